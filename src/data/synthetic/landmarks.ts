// The landmarks of the synthetic cephalograms: the rules that put each one on a sampled contour (a control point, an
// extreme in a head-frame direction, or an arc-length fraction), and the two simulated annotators' noise.
import type { Rng } from '../../engine/random.ts';
import { cumulativeLength, tangentAt } from './geometry.ts';
import type { Curve } from './geometry.ts';

type LandmarkKind = 'tip' | 'corner' | 'extreme' | 'along';
type Direction = 'forward' | 'back' | 'up' | 'down';

type LandmarkRule =
  | { curve: string; kind: 'tip' | 'corner'; control: number }
  | { curve: string; kind: 'extreme'; dir: Direction; from?: number; to?: number }
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
  { curve: 'mandible', kind: 'extreme', dir: 'back', from: 14, to: 17 }, // 6 B point
  { curve: 'mandible', kind: 'extreme', dir: 'forward', from: 12, to: 16 }, // 7 pogonion
  { curve: 'mandible', kind: 'extreme', dir: 'down', from: 9, to: 14 }, // 8 menton
  { curve: 'mandible', kind: 'along', between: [6, 7], fraction: 0.5 }, // 9 gnathion: halfway pogonion-menton
  { curve: 'mandible', kind: 'corner', control: 6 }, // 10 gonion
  { curve: 'lowerIncisor', kind: 'tip', control: 4 }, // 11 lower incisal incision
  { curve: 'upperIncisor', kind: 'tip', control: 4 }, // 12 upper incisal incision
  { curve: 'softProfile', kind: 'extreme', dir: 'forward', from: 9, to: 13 }, // 13 upper lip
  { curve: 'softProfile', kind: 'extreme', dir: 'forward', from: 13, to: 17 }, // 14 lower lip
  { curve: 'softProfile', kind: 'corner', control: 9 }, // 15 subnasale
  { curve: 'softProfile', kind: 'extreme', dir: 'forward', from: 17, to: 21 }, // 16 soft tissue pogonion
  { curve: 'palate', kind: 'tip', control: 0 }, // 17 posterior nasal spine
  { curve: 'palate', kind: 'tip', control: 4 }, // 18 anterior nasal spine
  { curve: 'mandible', kind: 'corner', control: 2 }, // 19 articulare
];
/** Curves that carry the extra along-contour landmarks when more than 19 are asked for. */
const EXTRA_CURVES = ['mandible', 'vault', 'softProfile', 'cranialBase', 'orbit', 'palate', 'ramusAnterior', 'maxilla'];

/** Noise of the simulated annotators, in pixels of a 640-wide image: [along the contour, across it]. */
const ANNOTATOR_NOISE: Record<LandmarkKind, [number, number]> = {
  tip: [1.0, 0.8],
  corner: [1.0, 0.8],
  extreme: [1.8, 0.6],
  along: [2.2, 0.6],
};

export interface Located {
  curve: Curve;
  index: number;
  kind: LandmarkKind;
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

/** The curve sample of each rule's landmark; `forward` and `down` are the head frame in output pixels. */
export function locate(rules: LandmarkRule[], curves: Map<string, Curve>, forward: [number, number], down: [number, number]): Located[] {
  const out: Located[] = [];
  const dirs: Record<Direction, [number, number]> = {
    forward,
    back: [-forward[0], -forward[1]],
    down,
    up: [-down[0], -down[1]],
  };
  for (const rule of rules) {
    const c = curves.get(rule.curve);
    if (!c) throw new Error(`synthetic: no curve ${rule.curve}`);
    if ('control' in rule) out.push({ curve: c, index: c.control[rule.control], kind: rule.kind });
    else if (rule.kind === 'extreme') out.push({ curve: c, index: extremeIndex(c, dirs[rule.dir], rule.from, rule.to), kind: 'extreme' });
    else out.push({ curve: c, index: alongIndex(c, rule, out), kind: 'along' });
  }
  return out;
}

/** The sample furthest in direction (dx, dy), between control points `from` and `to` (default: the whole curve). */
function extremeIndex(c: Curve, [dx, dy]: [number, number], from?: number, to?: number): number {
  const i0 = from === undefined ? 0 : c.control[from];
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
    const a = earlier[rule.between[0]];
    const b = earlier[rule.between[1]];
    if (!a || !b || a.curve !== c || b.curve !== c) throw new Error('synthetic: bad along-contour rule');
    target = cum[a.index] + rule.fraction * (cum[b.index] - cum[a.index]);
    lo = Math.min(a.index, b.index);
    hi = Math.max(a.index, b.index);
  }
  let best = lo;
  for (let i = lo; i <= hi; i++) if (Math.abs(cum[i] - target) < Math.abs(cum[best] - target)) best = i;
  return best;
}

/**
 * The true positions and the two annotators' ones (L * 2 each, clamped to the W x H image and rounded to 0.01 px):
 * each annotator adds Gaussian noise in the contour's frame, larger along it than across, scaled with the width.
 */
export function annotate(located: Located[], rng: Rng, W: number, H: number): { truth: Float32Array; annotators: [Float32Array, Float32Array] } {
  const L = located.length;
  const truth = new Float32Array(L * 2);
  const annotators: [Float32Array, Float32Array] = [new Float32Array(L * 2), new Float32Array(L * 2)];
  const noiseScale = W / 640;
  const round2 = (v: number): number => Math.round(v * 100) / 100;
  for (let i = 0; i < L; i++) {
    const { curve, index, kind } = located[i];
    const x = curve.xs[index];
    const y = curve.ys[index];
    truth[2 * i] = x;
    truth[2 * i + 1] = y;
    const [tx1, ty1] = tangentAt(curve, index);
    const [along, across] = ANNOTATOR_NOISE[kind];
    for (const a of annotators) {
      const u = rng.normal(along * noiseScale);
      const v = rng.normal(across * noiseScale);
      a[2 * i] = round2(Math.min(W - 0.01, Math.max(0, x + u * tx1 - v * ty1)));
      a[2 * i + 1] = round2(Math.min(H - 0.01, Math.max(0, y + u * ty1 + v * tx1)));
    }
  }
  return { truth, annotators };
}
