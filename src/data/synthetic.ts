// A synthetic cephalometric dataset: lateral-skull-X-ray-like grayscale images with landmarks ON smooth anatomical
// contours, deterministic from a seed, no downloads. Pure TypeScript (browser and Node).
//
// Each image is drawn from contours defined in a 1935x2400 reference frame (the ISBI image size), face to the
// right: cranial vault (outer and inner table, frontal bone and nasal bones), anterior cranial base with the sella
// cup and the clivus, the basiocciput, an orbit, an ear-rod ring, the hard palate, the anterior maxilla, upper and
// lower incisors, molars, the mandible (condyle, ramus, angle, body, chin) and its coronoid/anterior ramus, cervical
// vertebrae, the airway and the soft-tissue profile (forehead, nose, lips, chin, neck). Contours are centripetal
// Catmull-Rom splines through control points; per image every control point is jittered, some structures are
// resized or moved (mandible, chin, nose, lips), then the whole head gets a random pose (rotation, scale,
// translation). Rendering: region fills (soft tissue, brain, bone bodies, teeth) plus Gaussian-profile strokes for
// cortical bone, a fainter stroke on the soft-tissue profile, a dark airway; then blur, a smooth multiplicative
// intensity field, gain and gamma, and Gaussian noise; 8-bit output.
//
// The 19 landmarks follow the ISBI 2015 definitions' spirit (same order and names as ISBI_LANDMARK_NAMES) and lie on
// the sampled contours by construction: tips and corners are spline control points (the spline passes through
// them), "extreme" landmarks are the contour point furthest in a head-frame direction within a stretch of contour
// (pogonion = most anterior chin point, menton = lowest, A/B points = deepest concavities, lips most anterior) and
// "along" landmarks sit at an arc-length fraction between two others (gnathion halfway between pogonion and
// menton). Two simulated annotators add independent Gaussian noise in the contour's frame, larger along the contour
// than across it (at 640-pixel-wide scale: tips/corners 1.0 along, 0.8 across; extremes 1.8/0.6; along-contour
// 2.2/0.6 pixels), which is the ambiguity that makes heatmaps hug contours. Annotations are rounded to 0.01 px.
//
// Deterministic: the same (seed, image number, size) gives the same image and landmarks in any JS engine whose
// Math.exp/sin/cos agree (V8 in Node and Chromium do); landmarks depend only on the seed and the image number.
import { encodeBmpGray8 } from '../io/bmp.ts';
import { DATASET_META_FILE, ISBI_ANNOTATION_DIR, ISBI_LANDMARKS, ISBI_SPLIT_DIRS, MemoryFileSystem, joinPath, loadIsbiSplit } from './isbi.ts';
import type { FileSink, IsbiLoadOptions, IsbiSample, IsbiSplit } from './isbi.ts';
import { Rng, imageSeed } from '../engine/random.ts';

export const REFERENCE_WIDTH = 1935;
export const REFERENCE_HEIGHT = 2400;
export const SYNTHETIC_ANNOTATORS = ['400_junior', '400_senior'] as const;


// ---------------------------------------------------------------------------------------------------------------
// Geometry

/** A mutable point; curves share point objects where they meet (so jitter moves both). */
interface Pt {
  x: number;
  y: number;
}

const pt = (x: number, y: number): Pt => ({ x, y });

interface CurveSpec {
  name: string;
  closed: boolean;
  points: Pt[];
}

/** A densely sampled curve in output pixels. `control[i]` is the sample index of control point i. */
interface Curve {
  name: string;
  closed: boolean;
  xs: Float64Array;
  ys: Float64Array;
  control: Int32Array;
}

/** Samples a centripetal Catmull-Rom spline through the points, about `step` apart; passes through every point. */
function sampleSpline(spec: { name: string; closed: boolean; points: Pt[] }, step: number): Curve {
  const p = spec.points;
  const n = p.length;
  const get = (i: number): Pt => {
    if (spec.closed) return p[((i % n) + n) % n];
    if (i < 0) return pt(2 * p[0].x - p[1].x, 2 * p[0].y - p[1].y);
    if (i >= n) return pt(2 * p[n - 1].x - p[n - 2].x, 2 * p[n - 1].y - p[n - 2].y);
    return p[i];
  };
  const xs: number[] = [];
  const ys: number[] = [];
  const control = new Int32Array(n);
  const segments = spec.closed ? n : n - 1;
  for (let s = 0; s < segments; s++) {
    const p0 = get(s - 1);
    const p1 = get(s);
    const p2 = get(s + 1);
    const p3 = get(s + 2);
    control[s] = xs.length;
    const knot = (a: Pt, b: Pt): number => Math.max(1e-6, Math.sqrt(Math.hypot(b.x - a.x, b.y - a.y)));
    const t0 = 0;
    const t1 = t0 + knot(p0, p1);
    const t2 = t1 + knot(p1, p2);
    const t3 = t2 + knot(p2, p3);
    const len = Math.hypot(p2.x - p1.x, p2.y - p1.y);
    const count = Math.max(1, Math.ceil((len * 1.3) / step));
    for (let k = 0; k < count; k++) {
      const t = t1 + ((t2 - t1) * k) / count;
      const lerp = (a: Pt, b: Pt, ta: number, tb: number): Pt => {
        const wa = (tb - t) / (tb - ta);
        const wb = (t - ta) / (tb - ta);
        return pt(wa * a.x + wb * b.x, wa * a.y + wb * b.y);
      };
      const a1 = lerp(p0, p1, t0, t1);
      const a2 = lerp(p1, p2, t1, t2);
      const a3 = lerp(p2, p3, t2, t3);
      const b1 = lerp(a1, a2, t0, t2);
      const b2 = lerp(a2, a3, t1, t3);
      const c = lerp(b1, b2, t1, t2);
      xs.push(k === 0 ? p1.x : c.x);
      ys.push(k === 0 ? p1.y : c.y);
    }
  }
  if (!spec.closed) {
    control[n - 1] = xs.length;
    xs.push(p[n - 1].x);
    ys.push(p[n - 1].y);
  }
  return { name: spec.name, closed: spec.closed, xs: Float64Array.from(xs), ys: Float64Array.from(ys), control };
}

/** The reference-frame anatomy (1935x2400, face to the right), with random shape variation applied. */
function buildAnatomy(rng: Rng): CurveSpec[] {
  const J = (x: number, y: number, s = 7): Pt => pt(x + rng.normal(s), y + rng.normal(s));
  // Shared (named) points.
  const N = J(1400, 955, 8);
  const ANS = J(1435, 1428, 8);
  const Ar = J(650, 1340, 8);
  const condyle = J(705, 1258, 8);
  const Go = J(755, 1800, 12);
  const Sn = J(1570, 1478, 8);
  const UIT = J(1402, 1752, 6);
  const LIT = J(1388, 1722, 6);
  const PNS = J(870, 1450, 10);

  const vault: Pt[] = [
    J(1485, 1110, 9),
    J(1440, 1030, 6),
    N,
    J(1415, 880),
    J(1425, 790),
    J(1400, 650, 10),
    J(1330, 480, 12),
    J(1200, 340, 12),
    J(1020, 250, 12),
    J(820, 220, 12),
    J(610, 250, 12),
    J(410, 340, 12),
    J(250, 480, 12),
    J(150, 660, 12),
    J(115, 860, 12),
    J(150, 1060, 12),
    J(250, 1230, 12),
    J(380, 1330, 12),
  ];
  const centre = pt(780, 800);
  const scaled = (p: Pt, f: number): Pt => pt(centre.x + f * (p.x - centre.x), centre.y + f * (p.y - centre.y));
  const innerFactor = rng.uniform(0.91, 0.935);
  const vaultInner = vault.slice(4).map((p) => scaled(p, innerFactor));
  const scalp = vault.slice(5).reverse().map((p) => scaled(p, rng.uniform(1.055, 1.075)));

  const cranialBase: Pt[] = [
    J(1330, 975),
    J(1150, 965),
    J(980, 975),
    J(880, 985, 5),
    J(850, 1020, 4),
    J(805, 1045, 4),
    J(765, 1020, 4),
    J(755, 975, 5),
    J(730, 1040),
    J(695, 1140),
    J(660, 1240),
    J(610, 1320),
  ];
  const basiocciput: Pt[] = [J(530, 1410), J(595, 1375), Ar, J(705, 1312), J(760, 1295)];

  const orbitC = J(1250, 1110, 10);
  const orx = rng.uniform(95, 115);
  const ory = rng.uniform(85, 105);
  const orbit: Pt[] = [];
  for (let k = 0; k < 10; k++) {
    const a = (2 * Math.PI * k) / 10;
    orbit.push(pt(orbitC.x + orx * Math.cos(a) + rng.normal(4), orbitC.y + ory * Math.sin(a) + rng.normal(4)));
  }
  const earC = J(600, 1205, 10);
  const earR = rng.uniform(36, 48);
  const ear: Pt[] = [];
  for (let k = 0; k < 8; k++) {
    const a = (2 * Math.PI * k) / 8;
    ear.push(pt(earC.x + earR * Math.cos(a), earC.y + earR * Math.sin(a)));
  }

  const palate: Pt[] = [PNS, J(1000, 1432, 5), J(1200, 1424, 5), J(1350, 1422, 5), ANS, J(1350, 1447, 5), J(1200, 1477, 5), J(1050, 1490, 5), J(940, 1478, 5)];
  const maxilla: Pt[] = [ANS, J(1395, 1470, 5), J(1370, 1530, 6), J(1368, 1590, 6), J(1382, 1650, 5), J(1400, 1690, 5)];
  const upperIncisor: Pt[] = [J(1325, 1515, 6), J(1362, 1570, 4), J(1395, 1650, 4), J(1418, 1715, 4), UIT, J(1375, 1722, 3), J(1350, 1660, 4), J(1318, 1590, 4)];
  const lowerIncisor: Pt[] = [J(1290, 1935, 6), J(1325, 1880, 4), J(1365, 1800, 4), J(1392, 1745, 3), LIT, J(1362, 1742, 3), J(1332, 1800, 4), J(1300, 1870, 4)];

  // Mandible: condyle, posterior ramus border (through articulare), angle, lower border, chin, up to infradentale.
  const chinShift = rng.normal(14);
  const chin = (x: number, y: number, s = 5): Pt => J(x + chinShift, y, s);
  const mandible: Pt[] = [
    condyle,
    J(672, 1290, 5),
    Ar,
    J(640, 1450),
    J(652, 1590),
    J(695, 1715),
    Go,
    J(860, 1850),
    J(1000, 1890),
    J(1120, 1950),
    chin(1205, 2060),
    chin(1225, 2110), // 11
    chin(1268, 2150),
    chin(1310, 2135),
    chin(1336, 2080), // 14
    chin(1338, 2010),
    chin(1322, 1955),
    chin(1335, 1880), // 17
    J(1362, 1805, 5),
  ];
  // Mandible size: scale about the condyle.
  const mandibleScale = rng.uniform(0.95, 1.05);
  const scaleAbout = (pts: Pt[], c: Pt, f: number, skip: Set<Pt>): void => {
    for (const p of pts) {
      if (skip.has(p)) continue;
      p.x = c.x + f * (p.x - c.x);
      p.y = c.y + f * (p.y - c.y);
    }
  };
  scaleAbout(mandible, condyle, mandibleScale, new Set([condyle, Ar]));
  const ramusAnterior: Pt[] = [condyle, J(745, 1300, 5), J(790, 1360, 6), J(850, 1300, 8), J(870, 1380), J(865, 1500), J(900, 1640), J(980, 1760), J(1100, 1805)];
  scaleAbout(ramusAnterior, condyle, mandibleScale, new Set([condyle]));
  // The lower incisor rides on the mandible.
  const lowerShiftX = (mandibleScale - 1) * (1340 - condyle.x) + chinShift * 0.6;
  const lowerShiftY = (mandibleScale - 1) * (1800 - condyle.y);
  for (const p of lowerIncisor) {
    p.x += lowerShiftX;
    p.y += lowerShiftY;
  }

  const lip = rng.normal(10);
  const nose = rng.uniform(0.85, 1.15);
  const soft: Pt[] = [
    J(1462, 700, 6),
    J(1486, 790, 6),
    J(1494, 880, 6),
    J(1478, 965, 6),
    J(1530, 1080, 6),
    J(1615, 1205, 8),
    J(1712, 1330, 8), // 6 pronasale
    J(1700, 1405, 5),
    J(1640, 1452, 5),
    Sn, // 9
    J(1580 + lip * 0.5, 1545, 4),
    J(1612 + lip, 1625, 5),
    J(1598 + lip, 1690, 4),
    J(1560 + lip * 0.5, 1722, 4), // 13 stomion
    J(1585 + lip, 1770, 4),
    J(1594 + lip, 1825, 5),
    J(1562 + lip * 0.5, 1890, 5),
    J(1525 + chinShift, 1935, 5), // 17 soft B
    J(1540 + chinShift, 2010, 5),
    J(1548 + chinShift, 2070, 6),
    J(1522 + chinShift, 2150, 6),
    J(1460 + chinShift * 0.5, 2215, 8), // 21 soft menton
    J(1350, 2262, 10),
    J(1200, 2300, 10),
    J(1080, 2420, 10),
  ];
  // Nose size: scale the nose (points 4..8) about subnasale.
  for (let i = 4; i <= 8; i++) {
    soft[i].x = Sn.x + nose * (soft[i].x - Sn.x);
    soft[i].y = Sn.y + nose * (soft[i].y - Sn.y);
  }
  // The soft-tissue chin follows the mandible's size too.
  for (let i = 17; i <= 21; i++) soft[i].y += (mandibleScale - 1) * (soft[i].y - condyle.y) * 0.8;

  const rect = (cx: number, cy: number, w: number, h: number, tilt: number): Pt[] => {
    const c = Math.cos(tilt);
    const s = Math.sin(tilt);
    const corners: [number, number][] = [
      [-0.5, -0.42], [0, -0.5], [0.5, -0.42], [0.5, 0], [0.5, 0.42], [0, 0.5], [-0.5, 0.42], [-0.5, 0],
    ];
    return corners.map(([u, v]) => {
      const dx = u * w + rng.normal(2);
      const dy = v * h + rng.normal(2);
      return pt(cx + c * dx - s * dy, cy + s * dx + c * dy);
    });
  };
  const curves: CurveSpec[] = [
    { name: 'vault', closed: false, points: vault },
    { name: 'vaultInner', closed: false, points: vaultInner },
    { name: 'scalp', closed: false, points: scalp },
    { name: 'cranialBase', closed: false, points: cranialBase },
    { name: 'basiocciput', closed: false, points: basiocciput },
    { name: 'orbit', closed: true, points: orbit },
    { name: 'ear', closed: true, points: ear },
    { name: 'palate', closed: true, points: palate },
    { name: 'maxilla', closed: false, points: maxilla },
    { name: 'upperIncisor', closed: true, points: upperIncisor },
    { name: 'lowerIncisor', closed: true, points: lowerIncisor },
    { name: 'mandible', closed: false, points: mandible },
    { name: 'ramusAnterior', closed: false, points: ramusAnterior },
    { name: 'softProfile', closed: false, points: soft },
  ];
  const molarTilt = rng.normal(0.04);
  const upperXs = [1000, 1088, 1172, 1250];
  const lowerXs = [985, 1075, 1162, 1242];
  upperXs.forEach((x, i) => curves.push({ name: `upperMolar${i}`, closed: true, points: rect(x + rng.normal(4), 1697 + rng.normal(4), 82, 88, molarTilt) }));
  lowerXs.forEach((x, i) => {
    const p = rect(x + rng.normal(4) + lowerShiftX * 0.7, 1792 + rng.normal(4) + lowerShiftY * 0.7, 84, 90, molarTilt);
    curves.push({ name: `lowerMolar${i}`, closed: true, points: p });
  });
  const vx = [540, 526, 514, 504];
  const vy = [1560, 1760, 1955, 2150];
  vx.forEach((x, i) => curves.push({ name: `vertebra${i}`, closed: true, points: rect(x + rng.normal(6), vy[i] + rng.normal(6), 150, 140, 0.08 + rng.normal(0.04)) }));
  // Midface bone mass (maxilla, zygoma): a fill only.
  const midface: Pt[] = [J(880, 1000), J(1330, 990), J(1395, 1010), J(1425, 1120), J(1420, 1280), ANS, J(1395, 1690, 5), J(1250, 1700), J(1000, 1690), J(900, 1620), PNS, J(820, 1250), J(850, 1080)];
  curves.push({ name: 'midface', closed: true, points: midface });
  curves.push({ name: 'airway', closed: false, points: [J(830, 1470, 6), J(800, 1700, 8), J(785, 1950, 8), J(770, 2200, 8), J(760, 2450, 8)] });
  return curves;
}

// ---------------------------------------------------------------------------------------------------------------
// Landmarks

type LandmarkKind = 'tip' | 'corner' | 'extreme' | 'along';
type Direction = 'forward' | 'back' | 'up' | 'down';

type LandmarkRule =
  | { curve: string; kind: 'tip' | 'corner'; control: number }
  | { curve: string; kind: 'extreme'; dir: Direction; from?: number; to?: number }
  /** At an arc-length fraction between two earlier landmarks (on this curve), or of the whole curve. */
  | { curve: string; kind: 'along'; fraction: number; between?: [number, number] };

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

interface Located {
  curve: Curve;
  index: number;
  kind: LandmarkKind;
}

function cumulativeLength(c: Curve): Float64Array {
  const out = new Float64Array(c.xs.length);
  for (let i = 1; i < c.xs.length; i++) out[i] = out[i - 1] + Math.hypot(c.xs[i] - c.xs[i - 1], c.ys[i] - c.ys[i - 1]);
  return out;
}

function locate(rules: LandmarkRule[], curves: Map<string, Curve>, forward: [number, number], down: [number, number]): Located[] {
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
    if ('control' in rule) {
      out.push({ curve: c, index: c.control[rule.control], kind: rule.kind });
    } else if (rule.kind === 'extreme') {
      const [dx, dy] = dirs[rule.dir];
      const i0 = rule.from === undefined ? 0 : c.control[rule.from];
      const i1 = rule.to === undefined ? c.xs.length - 1 : c.control[rule.to];
      let best = i0;
      for (let i = i0; i <= i1; i++) {
        if (c.xs[i] * dx + c.ys[i] * dy > c.xs[best] * dx + c.ys[best] * dy) best = i;
      }
      out.push({ curve: c, index: best, kind: 'extreme' });
    } else {
      const cum = cumulativeLength(c);
      let lo = 0;
      let hi = c.xs.length - 1;
      let target = rule.fraction * cum[hi];
      if (rule.between) {
        const a = out[rule.between[0]];
        const b = out[rule.between[1]];
        if (!a || !b || a.curve !== c || b.curve !== c) throw new Error('synthetic: bad along-contour rule');
        target = cum[a.index] + rule.fraction * (cum[b.index] - cum[a.index]);
        lo = Math.min(a.index, b.index);
        hi = Math.max(a.index, b.index);
      }
      let best = lo;
      for (let i = lo; i <= hi; i++) if (Math.abs(cum[i] - target) < Math.abs(cum[best] - target)) best = i;
      out.push({ curve: c, index: best, kind: 'along' });
    }
  }
  return out;
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

function tangentAt(c: Curve, i: number): [number, number] {
  const n = c.xs.length;
  const a = c.closed ? (i - 1 + n) % n : Math.max(0, i - 1);
  const b = c.closed ? (i + 1) % n : Math.min(n - 1, i + 1);
  const dx = c.xs[b] - c.xs[a];
  const dy = c.ys[b] - c.ys[a];
  const l = Math.hypot(dx, dy) || 1;
  return [dx / l, dy / l];
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering

function fillPolygon(img: Float32Array, W: number, H: number, xs: ArrayLike<number>, ys: ArrayLike<number>, value: number): void {
  const rows: number[][] = Array.from({ length: H }, () => []);
  const n = xs.length;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    const x0 = xs[i];
    const y0 = ys[i];
    const x1 = xs[j];
    const y1 = ys[j];
    if (y0 === y1) continue;
    const lo = Math.min(y0, y1);
    const hi = Math.max(y0, y1);
    const r0 = Math.max(0, Math.ceil(lo - 0.5));
    const r1 = Math.min(H - 1, Math.ceil(hi - 0.5) - 1);
    for (let r = r0; r <= r1; r++) {
      const yc = r + 0.5;
      rows[r].push(x0 + ((yc - y0) / (y1 - y0)) * (x1 - x0));
    }
  }
  for (let r = 0; r < H; r++) {
    const xsr = rows[r];
    if (xsr.length < 2) continue;
    xsr.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xsr.length; k += 2) {
      const c0 = Math.max(0, Math.ceil(xsr[k] - 0.5));
      const c1 = Math.min(W - 1, Math.ceil(xsr[k + 1] - 0.5) - 1);
      for (let c = c0; c <= c1; c++) img[r * W + c] += value;
    }
  }
}

class StrokeRenderer {
  private readonly d2: Float32Array;
  constructor(
    private readonly W: number,
    private readonly H: number,
  ) {
    this.d2 = new Float32Array(W * H).fill(Infinity);
  }

  /** Adds amp * exp(-d^2 / 2 sigma^2), d the distance to the polyline (every `stride`-th sample of the curve). */
  draw(img: Float32Array, c: Curve, amp: number, sigma: number): void {
    const { W, H, d2 } = this;
    const reach = 3.5 * sigma;
    const stride = Math.max(1, Math.floor(sigma / 2));
    const idx: number[] = [];
    for (let i = 0; i < c.xs.length; i += stride) idx.push(i);
    if (idx[idx.length - 1] !== c.xs.length - 1) idx.push(c.xs.length - 1);
    if (c.closed) idx.push(0);
    let bx0 = W;
    let by0 = H;
    let bx1 = -1;
    let by1 = -1;
    for (let s = 0; s + 1 < idx.length; s++) {
      const ax = c.xs[idx[s]];
      const ay = c.ys[idx[s]];
      const ex = c.xs[idx[s + 1]];
      const ey = c.ys[idx[s + 1]];
      const x0 = Math.max(0, Math.floor(Math.min(ax, ex) - reach));
      const x1 = Math.min(W - 1, Math.ceil(Math.max(ax, ex) + reach));
      const y0 = Math.max(0, Math.floor(Math.min(ay, ey) - reach));
      const y1 = Math.min(H - 1, Math.ceil(Math.max(ay, ey) + reach));
      if (x0 > x1 || y0 > y1) continue;
      bx0 = Math.min(bx0, x0);
      by0 = Math.min(by0, y0);
      bx1 = Math.max(bx1, x1);
      by1 = Math.max(by1, y1);
      const vx = ex - ax;
      const vy = ey - ay;
      const vv = vx * vx + vy * vy || 1e-12;
      for (let y = y0; y <= y1; y++) {
        const py = y + 0.5 - ay;
        for (let x = x0; x <= x1; x++) {
          const px = x + 0.5 - ax;
          let t = (px * vx + py * vy) / vv;
          t = t < 0 ? 0 : t > 1 ? 1 : t;
          const dx = px - t * vx;
          const dy = py - t * vy;
          const dd = dx * dx + dy * dy;
          const o = y * W + x;
          if (dd < d2[o]) d2[o] = dd;
        }
      }
    }
    const inv = -1 / (2 * sigma * sigma);
    const cut = reach * reach;
    for (let y = by0; y <= by1; y++) {
      for (let x = bx0; x <= bx1; x++) {
        const o = y * W + x;
        const dd = d2[o];
        if (dd < cut) img[o] += amp * Math.exp(dd * inv);
        d2[o] = Infinity;
      }
    }
  }
}

/** Three box blurs (about a Gaussian of std sigma), separable, edges clamped. */
function blur(img: Float32Array, W: number, H: number, sigma: number): void {
  const w = Math.sqrt(4 * sigma * sigma + 1);
  const r = Math.max(0, Math.round((w - 1) / 2));
  if (r === 0) return;
  const size = Math.max(W, H);
  let line = new Float32Array(size);
  let out = new Float32Array(size);
  const norm = 1 / (2 * r + 1);
  // Horizontal: count lines of len samples; line l starts at l * lineStep, samples are step apart.
  const pass = (len: number, count: number, lineStep: number, step: number): void => {
    for (let l = 0; l < count; l++) {
      const base = l * lineStep;
      for (let k = 0; k < len; k++) line[k] = img[base + k * step];
      for (let rep = 0; rep < 3; rep++) {
        let acc = 0;
        for (let k = -r - 1; k < r; k++) acc += line[k < 0 ? 0 : k >= len ? len - 1 : k];
        for (let k = 0; k < len; k++) {
          const add = k + r >= len ? len - 1 : k + r;
          const sub = k - r - 1 < 0 ? 0 : k - r - 1;
          acc += line[add] - line[sub];
          out[k] = acc * norm;
        }
        const t = line;
        line = out;
        out = t;
      }
      for (let k = 0; k < len; k++) img[base + k * step] = line[k];
    }
  };
  pass(W, H, W, 1);
  // Vertical: whole rows at a time (cache-friendly), same running sums.
  let src = img.slice();
  let dst = new Float32Array(W * H);
  const acc = new Float64Array(W);
  for (let rep = 0; rep < 3; rep++) {
    acc.fill(0);
    for (let k = -r - 1; k < r; k++) {
      const o = (k < 0 ? 0 : k >= H ? H - 1 : k) * W;
      for (let x = 0; x < W; x++) acc[x] += src[o + x];
    }
    for (let k = 0; k < H; k++) {
      const a = (k + r >= H ? H - 1 : k + r) * W;
      const b = (k - r - 1 < 0 ? 0 : k - r - 1) * W;
      const o = k * W;
      for (let x = 0; x < W; x++) {
        acc[x] += src[a + x] - src[b + x];
        dst[o + x] = acc[x] * norm;
      }
    }
    const t = src;
    src = dst;
    dst = t;
  }
  img.set(src);
}

// ---------------------------------------------------------------------------------------------------------------
// One image

export interface SyntheticOptions {
  /** Image width in pixels (default 1935, the ISBI width); geometry scales with it. */
  width?: number;
  /** Image height (default round(width * 2400 / 1935)). */
  height?: number;
  /** Landmarks per image (default 19, the ISBI set; more are added along contours). */
  landmarks?: number;
}

export interface SyntheticCase {
  width: number;
  height: number;
  /** width * height gray levels, rows top to bottom. */
  pixels: Uint8Array;
  /** L * 2 landmark positions (original pixels) exactly on the generating contours. */
  truth: Float32Array;
  /** Two simulated annotators, L * 2 each (original pixels, rounded to 0.01). */
  annotators: [Float32Array, Float32Array];
  /** Name of the contour each landmark lies on. */
  landmarkCurves: string[];
  /** The generating contours, densely sampled (about 1 pixel apart): x0, y0, x1, y1, ... in original pixels. */
  curves: { name: string; closed: boolean; points: Float32Array }[];
  /** Millimetres per original pixel: 0.1 * 1935 / width. */
  pixelSizeMm: number;
}

/** Generates one image, deterministic from (seed, index) and the size. */
export function generateSyntheticCase(seed: number, index: number, options: SyntheticOptions = {}): SyntheticCase {
  const W = options.width ?? REFERENCE_WIDTH;
  const H = options.height ?? Math.round((W * REFERENCE_HEIGHT) / REFERENCE_WIDTH);
  const L = options.landmarks ?? ISBI_LANDMARKS;
  if (!Number.isInteger(W) || !Number.isInteger(H) || W < 32 || H < 32) throw new Error(`synthetic: invalid size ${W}x${H}`);
  if (!Number.isInteger(L) || L <= 0) throw new Error(`synthetic: invalid landmark count ${L}`);
  const rng = new Rng(imageSeed(seed, index));
  const specs = buildAnatomy(rng);

  // Pose: similarity about the image centre, then scale to the output size.
  const theta = (rng.uniform(-4, 4) * Math.PI) / 180;
  const poseScale = rng.uniform(0.93, 1.05);
  const tx = rng.normal(25);
  const ty = rng.normal(25);
  const kx = W / REFERENCE_WIDTH;
  const ky = H / REFERENCE_HEIGHT;
  const cx = REFERENCE_WIDTH / 2;
  const cy = REFERENCE_HEIGHT / 2;
  const cos = Math.cos(theta) * poseScale;
  const sin = Math.sin(theta) * poseScale;
  const seen = new Set<Pt>();
  for (const s of specs) {
    for (const p of s.points) {
      if (seen.has(p)) continue;
      seen.add(p);
      const dx = p.x - cx;
      const dy = p.y - cy;
      p.x = (cx + cos * dx - sin * dy + tx) * kx;
      p.y = (cy + sin * dx + cos * dy + ty) * ky;
    }
  }
  const k = Math.sqrt(kx * ky); // reference pixels -> output pixels, for lengths
  const curves = new Map<string, Curve>();
  for (const s of specs) curves.set(s.name, sampleSpline(s, 1));

  // Landmarks.
  const forward: [number, number] = [Math.cos(theta), Math.sin(theta)];
  const down: [number, number] = [-Math.sin(theta), Math.cos(theta)];
  const rules = L <= LANDMARK_RULES.length ? LANDMARK_RULES.slice(0, L) : [...LANDMARK_RULES, ...extraRules(L - LANDMARK_RULES.length)];
  const located = locate(rules, curves, forward, down);
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

  // Rendering.
  const img = new Float32Array(W * H);
  const amp = (): number => rng.uniform(0.85, 1.15);
  img.fill(rng.uniform(6, 20));
  const strokes = new StrokeRenderer(W, H);
  const get = (name: string): Curve => curves.get(name)!;
  const concat = (...parts: { c: Curve; reverse?: boolean }[]): { xs: number[]; ys: number[] } => {
    const xs: number[] = [];
    const ys: number[] = [];
    for (const { c, reverse } of parts) {
      for (let j = 0; j < c.xs.length; j++) {
        const i = reverse ? c.xs.length - 1 - j : j;
        xs.push(c.xs[i]);
        ys.push(c.ys[i]);
      }
    }
    return { xs, ys };
  };
  // Soft tissue: scalp (back -> top -> forehead), profile (forehead -> neck), then round the back of the neck.
  const head = concat({ c: get('scalp') }, { c: get('softProfile') });
  for (const [x, y] of [[1000, 2520], [250, 2520], [150, 1900], [90, 1500]]) {
    const dx = x - cx;
    const dy = y - cy;
    head.xs.push((cx + cos * dx - sin * dy + tx) * kx);
    head.ys.push((cy + sin * dx + cos * dy + ty) * ky);
  }
  fillPolygon(img, W, H, head.xs, head.ys, 42 * amp());
  const mid = get('midface');
  fillPolygon(img, W, H, mid.xs, mid.ys, 16 * amp());
  const brain = concat({ c: get('vaultInner') }, { c: get('cranialBase'), reverse: true });
  fillPolygon(img, W, H, brain.xs, brain.ys, 22 * amp());
  const mand = concat({ c: get('mandible') }, { c: get('ramusAnterior'), reverse: true });
  fillPolygon(img, W, H, mand.xs, mand.ys, 30 * amp());
  for (const name of ['palate', 'upperIncisor', 'lowerIncisor']) {
    const c = get(name);
    fillPolygon(img, W, H, c.xs, c.ys, (name === 'palate' ? 38 : 62) * amp());
  }
  for (const c of curves.values()) {
    if (c.name.includes('Molar')) fillPolygon(img, W, H, c.xs, c.ys, 68 * amp());
    if (c.name.startsWith('vertebra')) fillPolygon(img, W, H, c.xs, c.ys, 38 * amp());
  }
  const strokeSpec: [string, number, number][] = [
    ['vault', 95, 10],
    ['vaultInner', 68, 7],
    ['cranialBase', 85, 7],
    ['basiocciput', 58, 6],
    ['orbit', 55, 5],
    ['ear', 125, 5],
    ['palate', 65, 5],
    ['maxilla', 65, 6],
    ['upperIncisor', 48, 4],
    ['lowerIncisor', 48, 4],
    ['mandible', 100, 8],
    ['ramusAnterior', 70, 6],
    ['softProfile', 20, 4],
    ['airway', -26, 22],
  ];
  for (const [name, a, s] of strokeSpec) strokes.draw(img, get(name), a * amp(), s * k);
  for (const c of curves.values()) {
    if (c.name.includes('Molar')) strokes.draw(img, c, 40 * amp(), 4 * k);
    if (c.name.startsWith('vertebra')) strokes.draw(img, c, 52 * amp(), 5 * k);
  }

  // Blur, smooth intensity field, gain/gamma, noise.
  blur(img, W, H, rng.uniform(0.8, 1.6) * noiseScale);
  const gx = 6;
  const gy = 7;
  const field = new Float32Array(gx * gy).map(() => rng.uniform(0.85, 1.15));
  const gain = rng.uniform(0.8, 1.2);
  const gamma = rng.uniform(0.85, 1.15);
  const noise = rng.uniform(3, 8);
  // Gamma through a table (linear interpolation over 1024 steps).
  const lut = new Float32Array(1026);
  for (let i = 0; i < lut.length; i++) lut[i] = 255 * Math.pow(Math.min(1, i / 1024), gamma);
  const colIx = new Int32Array(W);
  const colWx = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    const fx = ((x + 0.5) / W) * (gx - 1);
    colIx[x] = Math.min(gx - 2, Math.floor(fx));
    colWx[x] = fx - colIx[x];
  }
  const pixels = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    const fy = ((y + 0.5) / H) * (gy - 1);
    const iy = Math.min(gy - 2, Math.floor(fy));
    const wy = fy - iy;
    for (let x = 0; x < W; x++) {
      const ix = colIx[x];
      const wx = colWx[x];
      const o = iy * gx + ix;
      const f = (1 - wy) * ((1 - wx) * field[o] + wx * field[o + 1]) + wy * ((1 - wx) * field[o + gx] + wx * field[o + gx + 1]);
      const v = Math.min(1, Math.max(0, (img[y * W + x] * f * gain) / 255)) * 1024;
      const i = Math.floor(v);
      const out = lut[i] + (v - i) * (lut[i + 1] - lut[i]) + rng.normal(noise);
      pixels[y * W + x] = Math.min(255, Math.max(0, Math.round(out)));
    }
  }

  const curveList = [...curves.values()].map((c) => {
    const points = new Float32Array(c.xs.length * 2);
    for (let i = 0; i < c.xs.length; i++) {
      points[2 * i] = c.xs[i];
      points[2 * i + 1] = c.ys[i];
    }
    return { name: c.name, closed: c.closed, points };
  });
  return {
    width: W,
    height: H,
    pixels,
    truth,
    annotators,
    landmarkCurves: located.map((l) => l.curve.name),
    curves: curveList,
    pixelSizeMm: (0.1 * REFERENCE_WIDTH) / W,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// A dataset in the ISBI layout

export interface SyntheticDatasetOptions extends SyntheticOptions {
  /** Images per split (default: ISBI's 150 / 150 / 100). */
  counts?: Partial<Record<IsbiSplit, number>>;
  /** Default 0. */
  seed?: number;
}

export interface SyntheticDatasetSummary {
  width: number;
  height: number;
  landmarks: number;
  /** Millimetres per original pixel (also written to chh-dataset.json, which loadIsbiSplit reads). */
  pixelSizeMm: number;
  ids: Record<IsbiSplit, string[]>;
}

const SPLITS: IsbiSplit[] = ['train', 'test1', 'test2'];
const DEFAULT_COUNTS: Record<IsbiSplit, number> = { train: 150, test1: 150, test2: 100 };

/** Image ids per split: numbered from 001 across the splits in order train, test1, test2 (like ISBI). */
export function syntheticIds(counts: Partial<Record<IsbiSplit, number>> = {}): Record<IsbiSplit, string[]> {
  const ids = { train: [], test1: [], test2: [] } as Record<IsbiSplit, string[]>;
  let n = 0;
  const total = SPLITS.reduce((s, sp) => s + (counts[sp] ?? DEFAULT_COUNTS[sp]), 0);
  const digits = Math.max(3, String(total).length);
  for (const split of SPLITS) {
    const count = counts[split] ?? DEFAULT_COUNTS[split];
    if (!Number.isInteger(count) || count < 0) throw new Error(`synthetic: invalid count ${count} for split ${split}`);
    for (let i = 0; i < count; i++) ids[split].push(String(++n).padStart(digits, '0'));
  }
  return ids;
}

function annotationText(points: Float32Array, extra: number[]): string {
  const lines: string[] = [];
  for (let i = 0; i < points.length; i += 2) lines.push(`${fmt(points[i])},${fmt(points[i + 1])}`);
  for (const e of extra) lines.push(String(e));
  return `${lines.join('\r\n')}\r\n`;
}

function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

interface ResolvedOptions {
  seed: number;
  width: number;
  height: number;
  landmarks: number;
  pixelSizeMm: number;
  counts: Record<IsbiSplit, number>;
}

function resolve(options: SyntheticDatasetOptions): ResolvedOptions {
  const width = options.width ?? REFERENCE_WIDTH;
  return {
    seed: options.seed ?? 0,
    width,
    height: options.height ?? Math.round((width * REFERENCE_HEIGHT) / REFERENCE_WIDTH),
    landmarks: options.landmarks ?? ISBI_LANDMARKS,
    pixelSizeMm: (0.1 * REFERENCE_WIDTH) / width,
    counts: { ...DEFAULT_COUNTS, ...options.counts },
  };
}

async function writeSplit(sink: FileSink, split: IsbiSplit, ids: string[], o: ResolvedOptions): Promise<void> {
  const encoder = new TextEncoder();
  for (const id of ids) {
    const c = generateSyntheticCase(o.seed, Number(id), o);
    await sink.write(joinPath(ISBI_SPLIT_DIRS[split], `${id}.bmp`), encodeBmpGray8({ width: o.width, height: o.height, data: c.pixels }));
    const extra = Array.from({ length: 8 }, (_, i) => 1 + ((Number(id) * 7 + i * 3) % 3));
    for (let a = 0; a < SYNTHETIC_ANNOTATORS.length; a++) {
      const path = joinPath(ISBI_ANNOTATION_DIR, SYNTHETIC_ANNOTATORS[a], `${id}.txt`);
      await sink.write(path, encoder.encode(annotationText(c.annotators[a], extra)));
    }
  }
}

async function writeMeta(sink: FileSink, o: ResolvedOptions, ids: Record<IsbiSplit, string[]>): Promise<void> {
  const meta = {
    pixelSizeMm: o.pixelSizeMm,
    generator: 'chh-webgpu synthetic cephalograms',
    seed: o.seed,
    width: o.width,
    height: o.height,
    landmarks: o.landmarks,
    counts: Object.fromEntries(SPLITS.map((s) => [s, ids[s].length])),
  };
  await sink.write(DATASET_META_FILE, new TextEncoder().encode(`${JSON.stringify(meta, null, 2)}\n`));
}

/**
 * Writes the set through a FileSink in the ISBI layout: RawImage/<split dir>/NNN.bmp (8-bit gray), and
 * AnnotationsByMD/{400_junior,400_senior}/NNN.txt (L lines "x,y" then 8 lines of integers to ignore, like the ISBI
 * files), plus chh-dataset.json with the pixel size (read by loadIsbiSplit). Image NNN is generated from
 * (seed, NNN) alone, so a split's images do not depend on the other splits' counts.
 */
export async function writeSyntheticDataset(sink: FileSink, options: SyntheticDatasetOptions = {}): Promise<SyntheticDatasetSummary> {
  const o = resolve(options);
  const ids = syntheticIds(o.counts);
  for (const split of SPLITS) await writeSplit(sink, split, ids[split], o);
  await writeMeta(sink, o, ids);
  return { width: o.width, height: o.height, landmarks: o.landmarks, pixelSizeMm: o.pixelSizeMm, ids };
}

/** The synthetic set as an in-memory ISBI folder tree (for the browser, or tests without disk). */
export async function syntheticIsbiSource(options: SyntheticDatasetOptions = {}): Promise<MemoryFileSystem> {
  const fs = new MemoryFileSystem('synthetic:');
  await writeSyntheticDataset(fs, options);
  return fs;
}

/**
 * One split of the synthetic set as loaded samples, without disk: the same samples loadIsbiSplit gives on the
 * written set (it is that loader, run over an in-memory copy of this split's files).
 */
export async function loadSyntheticSplit(
  split: IsbiSplit,
  options: SyntheticDatasetOptions = {},
  load: Omit<IsbiLoadOptions, 'landmarks'> = {},
): Promise<IsbiSample[]> {
  const o = resolve(options);
  const ids = syntheticIds(o.counts);
  const fs = new MemoryFileSystem('synthetic:');
  await writeSplit(fs, split, ids[split], o);
  await writeMeta(fs, o, ids);
  return loadIsbiSplit(fs, split, { ...load, landmarks: o.landmarks });
}
