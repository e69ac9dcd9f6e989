// The landmarks of the synthetic cephalograms: the rules that put each one on a sampled contour (a control point, an
// extreme in a head-frame direction, or an arc-length fraction), and the two simulated annotators' clicks
// (ANNOTATORS in params.ts).
import type { Rng } from '../../engine/random.ts';
import { cumulativeLength, tangentAt } from './geometry.ts';
import type { Curve } from './geometry.ts';
import { ANNOTATORS, SHAPE_MODES } from './params.ts';
import type { Quality } from './quality.ts';

type Direction = 'forward' | 'back' | 'up' | 'down';

/**
 * The frame an extreme is taken in: the head's, or the mandible's (turned with the mouth's opening: B point, pogonion,
 * menton), or the soft chin's (turned by the share of it that the lower lip and chin follow).
 */
type Frame = 'head' | 'jaw' | 'softChin';

type LandmarkRule =
  | { curve: string; kind: 'tip' | 'corner'; control: number }
  /** `after`: the landmark (0-based, ISBI order) on this curve that the range starts at (B point lies above pogonion). */
  | { curve: string; kind: 'extreme'; dir: Direction; from?: number; to?: number; frame?: Frame; after?: number }
  /** At an arc-length fraction between two earlier landmarks (on this curve), or of the whole curve. */
  | { curve: string; kind: 'along'; fraction: number; between?: [number, number] };

type AlongRule = Extract<LandmarkRule, { kind: 'along' }>;

/** ISBI order (see ISBI_LANDMARK_NAMES). Control indices refer to buildAnatomy's point lists. */
const LANDMARK_RULES: LandmarkRule[] = [
  { curve: 'cranialBase', kind: 'extreme', dir: 'down', from: 3, to: 7 }, // 1 sella (floor of the sella cup)
  { curve: 'vault', kind: 'corner', control: 2 }, // 2 nasion
  { curve: 'orbit', kind: 'extreme', dir: 'down' }, // 3 orbitale
  { curve: 'ear', kind: 'extreme', dir: 'up' }, // 4 porion
  { curve: 'maxilla', kind: 'extreme', dir: 'back', from: 1, to: 4 }, // 5 A point
  { curve: 'mandible', kind: 'extreme', dir: 'back', from: 14, to: 17, frame: 'jaw', after: 6 }, // 6 B point (above pogonion)
  { curve: 'mandible', kind: 'extreme', dir: 'forward', from: 12, to: 16, frame: 'jaw' }, // 7 pogonion
  { curve: 'mandible', kind: 'extreme', dir: 'down', from: 9, to: 14, frame: 'jaw' }, // 8 menton
  { curve: 'mandible', kind: 'along', between: [6, 7], fraction: 0.5 }, // 9 gnathion: halfway pogonion-menton
  { curve: 'mandible', kind: 'corner', control: 6 }, // 10 gonion
  { curve: 'lowerIncisor', kind: 'tip', control: 4 }, // 11 lower incisal incision
  { curve: 'upperIncisor', kind: 'tip', control: 4 }, // 12 upper incisal incision
  { curve: 'softProfile', kind: 'extreme', dir: 'forward', from: 9, to: 13 }, // 13 upper lip
  { curve: 'softProfile', kind: 'extreme', dir: 'forward', from: 13, to: 17, frame: 'softChin' }, // 14 lower lip
  { curve: 'softProfile', kind: 'corner', control: 9 }, // 15 subnasale
  { curve: 'softProfile', kind: 'extreme', dir: 'forward', from: 17, to: 21, frame: 'softChin' }, // 16 soft tissue pogonion
  { curve: 'palate', kind: 'tip', control: 0 }, // 17 posterior nasal spine
  { curve: 'palate', kind: 'tip', control: 4 }, // 18 anterior nasal spine
  { curve: 'mandible', kind: 'corner', control: 2 }, // 19 articulare
];
/** Curves that carry the extra along-contour landmarks when more than 19 are asked for. */
const EXTRA_CURVES = ['mandible', 'vault', 'softProfile', 'cranialBase', 'orbit', 'palate', 'ramusAnterior', 'maxilla'];

export interface Located {
  curve: Curve;
  index: number;
}

/** The rules of the first L landmarks: the ISBI ones, then extra along-contour ones. */
export function landmarkRules(L: number): LandmarkRule[] {
  return L <= LANDMARK_RULES.length ? LANDMARK_RULES.slice(0, L) : [...LANDMARK_RULES, ...extraRules(L - LANDMARK_RULES.length)];
}

function extraRules(count: number): LandmarkRule[] {
  const rules: LandmarkRule[] = [];
  for (let k = 0; k < count; k++) {
    // Golden-ratio fractions spread the points along each curve.
    const fraction = 0.1 + 0.8 * ((k * 0.6180339887 + 0.3) % 1);
    rules.push({ curve: EXTRA_CURVES[k % EXTRA_CURVES.length], kind: 'along', fraction });
  }
  return rules;
}

/**
 * The curve sample of each rule's landmark; `forward` and `down` are the head frame in output pixels, `jawAngle` how
 * far the mandible is turned from it (the mouth's opening, radians).
 */
export function locate(rules: LandmarkRule[], curves: Map<string, Curve>, forward: [number, number], down: [number, number], jawAngle = 0): Located[] {
  const angles: Record<Frame, number> = { head: 0, jaw: jawAngle, softChin: jawAngle * SHAPE_MODES.softTissueFollow };
  const direction = (dir: Direction, frame: Frame): [number, number] => {
    const [x, y] = { forward, back: [-forward[0], -forward[1]], down, up: [-down[0], -down[1]] }[dir];
    const a = angles[frame];
    return [Math.cos(a) * x - Math.sin(a) * y, Math.sin(a) * x + Math.cos(a) * y];
  };
  // Rules that start from other landmarks (along between two, extremes after one) go once those are located.
  const out: Located[] = new Array(rules.length);
  const needs = (r: LandmarkRule): number[] => (r.kind === 'along' ? (r.between ?? []) : r.kind === 'extreme' && r.after !== undefined ? [r.after] : []);
  const order = rules.map((_, i) => i).sort((a, b) => Math.sign(needs(rules[a]).length) - Math.sign(needs(rules[b]).length) || a - b);
  for (const i of order) {
    const rule = rules[i];
    const c = curves.get(rule.curve);
    if (!c) throw new Error(`synthetic: no curve ${rule.curve}`);
    if (needs(rule).some((k) => !out[k] || out[k].curve !== c)) throw new Error(`synthetic: landmark ${i + 1} starts from a landmark not on ${rule.curve}`);
    if ('control' in rule) out[i] = { curve: c, index: c.control[rule.control] };
    else if (rule.kind === 'extreme') {
      const start = rule.after === undefined ? undefined : out[rule.after].index;
      out[i] = { curve: c, index: extremeIndex(c, direction(rule.dir, rule.frame ?? 'head'), rule.from, rule.to, start) };
    } else out[i] = { curve: c, index: alongIndex(c, rule, out) };
  }
  return out;
}

/**
 * The sample furthest in direction (dx, dy), between control points `from` and `to` (default: the whole curve), and
 * from sample `start` on where given.
 */
function extremeIndex(c: Curve, [dx, dy]: [number, number], from?: number, to?: number, start?: number): number {
  const i0 = Math.max(from === undefined ? 0 : c.control[from], start ?? 0);
  const i1 = to === undefined ? c.xs.length - 1 : c.control[to];
  let best = i0;
  for (let i = i0; i <= i1; i++) {
    if (c.xs[i] * dx + c.ys[i] * dy > c.xs[best] * dx + c.ys[best] * dy) best = i;
  }
  return best;
}

/** The sample nearest the rule's arc-length fraction; `earlier` are the landmarks located so far. */
function alongIndex(c: Curve, rule: AlongRule, earlier: Located[]): number {
  const cum = cumulativeLength(c);
  let lo = 0;
  let hi = c.xs.length - 1;
  let target = rule.fraction * cum[hi];
  if (rule.between) {
    // locate() has checked that both are located, on this curve.
    const a = earlier[rule.between[0]];
    const b = earlier[rule.between[1]];
    target = cum[a.index] + rule.fraction * (cum[b.index] - cum[a.index]);
    lo = Math.min(a.index, b.index);
    hi = Math.max(a.index, b.index);
  }
  let best = lo;
  for (let i = lo; i <= hi; i++) if (Math.abs(cum[i] - target) < Math.abs(cum[best] - target)) best = i;
  return best;
}

/** How each simulated click was made, per landmark: its place between the near and far side, and gross or not. */
export interface Clicks {
  /** Where between the near (0) and the far side's contour (1) the click aims; NaN off bilateral landmarks. */
  farWeight: Float32Array;
  /** 1 where the click is gross (moved grossMm along the contour). */
  gross: Uint8Array;
}

export interface Annotation {
  truth: Float32Array;
  annotators: [Float32Array, Float32Array];
  clicks: [Clicks, Clicks];
  /** What each landmark's click noise was multiplied by on this image (its quality: clickNoiseFactor). */
  noiseFactor: Float32Array;
}

/** The image quality draws that make annotators less sure. */
export type ClickConditions = Pick<Quality, 'haze' | 'weakEdge' | 'softTissue'>;

/** How much noisier the clicks on landmark i are on an image of this quality (ANNOTATORS.hazeBase and below). */
export function clickNoiseFactor(i: number, q: ClickConditions): number {
  const weak = ANNOTATORS.weakEdgeLandmarks.includes(i) ? 1.5 - q.weakEdge / 2 : 1;
  const soft = ANNOTATORS.softTissueLandmarks.includes(i) ? 1.6 - 0.6 * q.softTissue : 1;
  return (ANNOTATORS.hazeBase + q.haze) * weak * soft;
}

/** The std of a click along and across the contour (mm) of landmark i. */
export function clickNoiseMm(i: number): readonly [number, number] {
  return ANNOTATORS.noiseMm[i] ?? ANNOTATORS.extraNoiseMm;
}

/** The share of landmark i's clicks that are gross. */
export function grossShare(i: number): number {
  return ANNOTATORS.grossShare * (ANNOTATORS.ambiguous.includes(i) ? ANNOTATORS.grossBoost : 1);
}

/**
 * The true positions and the two annotators' ones (L * 2 each, clamped to the W x H image and rounded to 0.01 px).
 * Each click is the landmark, plus (on bilateral landmarks) about half the way to the far side's contour,
 * plus Gaussian noise in the contour's frame (ANNOTATORS.noiseMm, times clickNoiseFactor on this image's
 * `conditions`), plus, rarely, a gross slip along the contour.
 * `far` holds the far sides by near-side name; `mmPerPixel` the image's pixel size.
 */
export function annotate(located: Located[], far: Map<string, Curve>, conditions: ClickConditions, rng: Rng, W: number, H: number, mmPerPixel: number): Annotation {
  const L = located.length;
  const truth = new Float32Array(L * 2);
  const annotators: [Float32Array, Float32Array] = [new Float32Array(L * 2), new Float32Array(L * 2)];
  const clicks: [Clicks, Clicks] = [0, 1].map(() => ({ farWeight: new Float32Array(L).fill(NaN), gross: new Uint8Array(L) })) as [Clicks, Clicks];
  const noiseFactor = new Float32Array(L);
  const round2 = (v: number): number => Math.round(v * 100) / 100;
  for (let i = 0; i < L; i++) {
    const { curve, index } = located[i];
    noiseFactor[i] = clickNoiseFactor(i, conditions);
    const x = curve.xs[index];
    const y = curve.ys[index];
    truth[2 * i] = x;
    truth[2 * i + 1] = y;
    const [tx, ty] = tangentAt(curve, index);
    const [alongMm, acrossMm] = clickNoiseMm(i).map((mm) => mm * noiseFactor[i]);
    const farCurve = ANNOTATORS.bilateral.includes(i) ? far.get(curve.name) : undefined;
    for (let a = 0; a < 2; a++) {
      // Always the same draws per click, whatever the click turns out to be.
      let u = rng.normal(alongMm / mmPerPixel);
      const v = rng.normal(acrossMm / mmPerPixel);
      const w = Math.min(1, Math.max(0, 0.5 + rng.normal(ANNOTATORS.farAim)));
      const gross = rng.uniform() < grossShare(i);
      const slip = (rng.uniform(...ANNOTATORS.grossMm) / mmPerPixel) * (rng.uniform() < 0.5 ? -1 : 1);
      if (gross) u += slip;
      clicks[a].gross[i] = gross ? 1 : 0;
      let fx = 0;
      let fy = 0;
      if (farCurve) {
        clicks[a].farWeight[i] = w;
        fx = w * (farCurve.xs[index] - x);
        fy = w * (farCurve.ys[index] - y);
      }
      annotators[a][2 * i] = round2(Math.min(W - 0.01, Math.max(0, x + fx + u * tx - v * ty)));
      annotators[a][2 * i + 1] = round2(Math.min(H - 0.01, Math.max(0, y + fy + u * ty + v * tx)));
    }
  }
  return { truth, annotators, clicks, noiseFactor };
}
