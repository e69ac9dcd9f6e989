// The anatomy of the synthetic cephalograms: the contours of a lateral skull in the 1935x2400 reference frame (face
// to the right) as control points with their per-image random variation, and the random head pose that maps them to
// output pixels.
//
// Every structure draws from the one per-image Rng, in a fixed order (buildAnatomy's), so an image's shape is a
// function of its seed alone; reordering any draw here changes every image.
import type { Rng } from '../../engine/random.ts';
import { pt, sampleSpline } from './geometry.ts';
import type { Curve, CurveSpec, Pt } from './geometry.ts';
import { POSE } from './params.ts';

/** The frame the anatomy is defined in: the ISBI image size. */
export const REFERENCE_WIDTH = 1935;
export const REFERENCE_HEIGHT = 2400;

// ---------------------------------------------------------------------------------------------------------------
// Anatomy (reference frame)

/** A control point jittered by Gaussian noise of std s. */
type Jitter = (x: number, y: number, s?: number) => Pt;

/** Points that several structures share (the same object in each, so jitter and pose move them once). */
interface Shared {
  N: Pt;
  ANS: Pt;
  Ar: Pt;
  condyle: Pt;
  Go: Pt;
  Sn: Pt;
  UIT: Pt;
  LIT: Pt;
  PNS: Pt;
}

/** The mandible and the shape changes that the structures riding on it follow. */
interface Jaw {
  mandible: Pt[];
  ramusAnterior: Pt[];
  chinShift: number;
  mandibleScale: number;
  lowerShiftX: number;
  lowerShiftY: number;
}

/** The reference-frame anatomy (1935x2400, face to the right), with random shape variation applied. */
export function buildAnatomy(rng: Rng): CurveSpec[] {
  const J: Jitter = (x, y, s = 7) => pt(x + rng.normal(s), y + rng.normal(s));
  const shared = sharedPoints(J);
  const { vault, vaultInner, scalp } = cranialVault(rng, J, shared);
  const { cranialBase, basiocciput } = cranialBaseCurves(J, shared);
  const { orbit, ear } = orbitAndEar(rng, J);
  const { palate, maxilla, upperIncisor, lowerIncisor } = maxillaAndIncisors(J, shared);
  const jaw = mandible(rng, J, shared, lowerIncisor);
  const soft = softProfile(rng, J, shared, jaw);
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
    { name: 'mandible', closed: false, points: jaw.mandible },
    { name: 'ramusAnterior', closed: false, points: jaw.ramusAnterior },
    { name: 'softProfile', closed: false, points: soft },
  ];
  curves.push(...molars(rng, jaw));
  curves.push(...vertebrae(rng));
  curves.push(...midfaceAndAirway(J, shared));
  return curves;
}

function sharedPoints(J: Jitter): Shared {
  const N = J(1400, 955, 8);
  const ANS = J(1435, 1428, 8);
  const Ar = J(650, 1340, 8);
  const condyle = J(705, 1258, 8);
  const Go = J(755, 1800, 12);
  const Sn = J(1570, 1478, 8);
  const UIT = J(1402, 1752, 6);
  const LIT = J(1388, 1722, 6);
  const PNS = J(870, 1450, 10);
  return { N, ANS, Ar, condyle, Go, Sn, UIT, LIT, PNS };
}

/** Outer table (with the frontal and nasal bones, through nasion), inner table and scalp, both scaled from it. */
function cranialVault(rng: Rng, J: Jitter, s: Shared): { vault: Pt[]; vaultInner: Pt[]; scalp: Pt[] } {
  const vault: Pt[] = [
    J(1485, 1110, 9),
    J(1440, 1030, 6),
    s.N,
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
  return { vault, vaultInner, scalp };
}

/** Anterior cranial base with the sella cup and the clivus; the basiocciput through articulare. */
function cranialBaseCurves(J: Jitter, s: Shared): { cranialBase: Pt[]; basiocciput: Pt[] } {
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
  const basiocciput: Pt[] = [J(530, 1410), J(595, 1375), s.Ar, J(705, 1312), J(760, 1295)];
  return { cranialBase, basiocciput };
}

/** An orbit (jittered ellipse) and the ear-rod ring (circle). */
function orbitAndEar(rng: Rng, J: Jitter): { orbit: Pt[]; ear: Pt[] } {
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
  return { orbit, ear };
}

function maxillaAndIncisors(J: Jitter, s: Shared): { palate: Pt[]; maxilla: Pt[]; upperIncisor: Pt[]; lowerIncisor: Pt[] } {
  const palate: Pt[] = [s.PNS, J(1000, 1432, 5), J(1200, 1424, 5), J(1350, 1422, 5), s.ANS, J(1350, 1447, 5), J(1200, 1477, 5), J(1050, 1490, 5), J(940, 1478, 5)];
  const maxilla: Pt[] = [s.ANS, J(1395, 1470, 5), J(1370, 1530, 6), J(1368, 1590, 6), J(1382, 1650, 5), J(1400, 1690, 5)];
  const upperIncisor: Pt[] = [J(1325, 1515, 6), J(1362, 1570, 4), J(1395, 1650, 4), J(1418, 1715, 4), s.UIT, J(1375, 1722, 3), J(1350, 1660, 4), J(1318, 1590, 4)];
  const lowerIncisor: Pt[] = [J(1290, 1935, 6), J(1325, 1880, 4), J(1365, 1800, 4), J(1392, 1745, 3), s.LIT, J(1362, 1742, 3), J(1332, 1800, 4), J(1300, 1870, 4)];
  return { palate, maxilla, upperIncisor, lowerIncisor };
}

/** Scales the points about c by f, in place, except those in `skip`. */
function scaleAbout(pts: Pt[], c: Pt, f: number, skip: Set<Pt>): void {
  for (const p of pts) {
    if (skip.has(p)) continue;
    p.x = c.x + f * (p.x - c.x);
    p.y = c.y + f * (p.y - c.y);
  }
}

/**
 * Mandible: condyle, posterior ramus border (through articulare), angle, lower border, chin, up to infradentale;
 * the coronoid/anterior ramus; a random size about the condyle and chin shift, which the lower incisor follows.
 */
function mandible(rng: Rng, J: Jitter, s: Shared, lowerIncisor: Pt[]): Jaw {
  const chinShift = rng.normal(14);
  const chin = (x: number, y: number, sd = 5): Pt => J(x + chinShift, y, sd);
  const mandible: Pt[] = [
    s.condyle,
    J(672, 1290, 5),
    s.Ar,
    J(640, 1450),
    J(652, 1590),
    J(695, 1715),
    s.Go,
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
  const mandibleScale = rng.uniform(0.95, 1.05);
  scaleAbout(mandible, s.condyle, mandibleScale, new Set([s.condyle, s.Ar]));
  const ramusAnterior: Pt[] = [s.condyle, J(745, 1300, 5), J(790, 1360, 6), J(850, 1300, 8), J(870, 1380), J(865, 1500), J(900, 1640), J(980, 1760), J(1100, 1805)];
  scaleAbout(ramusAnterior, s.condyle, mandibleScale, new Set([s.condyle]));
  const lowerShiftX = (mandibleScale - 1) * (1340 - s.condyle.x) + chinShift * 0.6;
  const lowerShiftY = (mandibleScale - 1) * (1800 - s.condyle.y);
  for (const p of lowerIncisor) {
    p.x += lowerShiftX;
    p.y += lowerShiftY;
  }
  return { mandible, ramusAnterior, chinShift, mandibleScale, lowerShiftX, lowerShiftY };
}

/** Forehead, nose, lips, chin and neck; random lip position and nose size; the chin follows the mandible. */
function softProfile(rng: Rng, J: Jitter, s: Shared, jaw: Jaw): Pt[] {
  const { chinShift, mandibleScale } = jaw;
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
    s.Sn, // 9
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
    soft[i].x = s.Sn.x + nose * (soft[i].x - s.Sn.x);
    soft[i].y = s.Sn.y + nose * (soft[i].y - s.Sn.y);
  }
  for (let i = 17; i <= 21; i++) soft[i].y += (mandibleScale - 1) * (soft[i].y - s.condyle.y) * 0.8;
  return soft;
}

/** Unit-box outline of a tooth or vertebral body: corners and edge midpoints, clockwise from the top left. */
const BOX_OUTLINE: [number, number][] = [
  [-0.5, -0.42], [0, -0.5], [0.5, -0.42], [0.5, 0], [0.5, 0.42], [0, 0.5], [-0.5, 0.42], [-0.5, 0],
];

/** A w x h rounded box centred on (cx, cy), tilted, each outline point jittered. */
function jitteredBox(rng: Rng, cx: number, cy: number, w: number, h: number, tilt: number): Pt[] {
  const c = Math.cos(tilt);
  const s = Math.sin(tilt);
  return BOX_OUTLINE.map(([u, v]) => {
    const dx = u * w + rng.normal(2);
    const dy = v * h + rng.normal(2);
    return pt(cx + c * dx - s * dy, cy + s * dx + c * dy);
  });
}

/** Four upper and four lower molars (the lower ones ride on the mandible), one common tilt. */
function molars(rng: Rng, jaw: Jaw): CurveSpec[] {
  const out: CurveSpec[] = [];
  const molarTilt = rng.normal(0.04);
  const upperXs = [1000, 1088, 1172, 1250];
  const lowerXs = [985, 1075, 1162, 1242];
  upperXs.forEach((x, i) => out.push({ name: `upperMolar${i}`, closed: true, points: jitteredBox(rng, x + rng.normal(4), 1697 + rng.normal(4), 82, 88, molarTilt) }));
  lowerXs.forEach((x, i) => {
    const p = jitteredBox(rng, x + rng.normal(4) + jaw.lowerShiftX * 0.7, 1792 + rng.normal(4) + jaw.lowerShiftY * 0.7, 84, 90, molarTilt);
    out.push({ name: `lowerMolar${i}`, closed: true, points: p });
  });
  return out;
}

/** Four cervical vertebral bodies. */
function vertebrae(rng: Rng): CurveSpec[] {
  const vx = [540, 526, 514, 504];
  const vy = [1560, 1760, 1955, 2150];
  return vx.map((x, i) => ({ name: `vertebra${i}`, closed: true, points: jitteredBox(rng, x + rng.normal(6), vy[i] + rng.normal(6), 150, 140, 0.08 + rng.normal(0.04)) }));
}

/** The midface bone mass (maxilla, zygoma: a fill only) and the airway. */
function midfaceAndAirway(J: Jitter, s: Shared): CurveSpec[] {
  const midface: Pt[] = [J(880, 1000), J(1330, 990), J(1395, 1010), J(1425, 1120), J(1420, 1280), s.ANS, J(1395, 1690, 5), J(1250, 1700), J(1000, 1690), J(900, 1620), s.PNS, J(820, 1250), J(850, 1080)];
  const airway: Pt[] = [J(830, 1470, 6), J(800, 1700, 8), J(785, 1950, 8), J(770, 2200, 8), J(760, 2450, 8)];
  return [
    { name: 'midface', closed: true, points: midface },
    { name: 'airway', closed: false, points: airway },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Pose

/** A similarity about the reference image's centre, then the scale to the output size. */
export interface Pose {
  cos: number;
  sin: number;
  tx: number;
  ty: number;
  kx: number;
  ky: number;
  /** Unit head-frame directions in the output image (the pose's rotation alone). */
  forward: [number, number];
  down: [number, number];
}

export function drawPose(rng: Rng, W: number, H: number): Pose {
  const theta = (rng.uniform(...POSE.tiltDeg) * Math.PI) / 180;
  const poseScale = rng.uniform(...POSE.scale);
  const tx = rng.normal(POSE.shift);
  const ty = rng.normal(POSE.shift);
  return {
    cos: Math.cos(theta) * poseScale,
    sin: Math.sin(theta) * poseScale,
    tx,
    ty,
    kx: W / REFERENCE_WIDTH,
    ky: H / REFERENCE_HEIGHT,
    forward: [Math.cos(theta), Math.sin(theta)],
    down: [-Math.sin(theta), Math.cos(theta)],
  };
}

/** A reference-frame point in output pixels. */
export function posed(pose: Pose, x: number, y: number): Pt {
  const dx = x - REFERENCE_WIDTH / 2;
  const dy = y - REFERENCE_HEIGHT / 2;
  return pt((REFERENCE_WIDTH / 2 + pose.cos * dx - pose.sin * dy + pose.tx) * pose.kx, (REFERENCE_HEIGHT / 2 + pose.sin * dx + pose.cos * dy + pose.ty) * pose.ky);
}

/** Moves every control point (shared ones once) to output pixels, in place. */
export function applyPose(specs: CurveSpec[], pose: Pose): void {
  const seen = new Set<Pt>();
  for (const s of specs) {
    for (const p of s.points) {
      if (seen.has(p)) continue;
      seen.add(p);
      const q = posed(pose, p.x, p.y);
      p.x = q.x;
      p.y = q.y;
    }
  }
}

/**
 * Moves the sampled curves (and the pose's shift) so that every point in `keep` lies at least POSE.margin inside the
 * W x H image: a pose draw can push a landmark of a large, tilted head out. A pure translation, so landmarks located
 * on the curves stay where they are on them.
 */
export function keepInside(curves: Map<string, Curve>, pose: Pose, keep: { curve: Curve; index: number }[], W: number, H: number): void {
  const shift = (lo: number, hi: number, size: number): number => {
    const m = POSE.margin * size;
    if (hi - lo > size - 2 * m) return size / 2 - (lo + hi) / 2;
    return lo < m ? m - lo : hi > size - m ? size - m - hi : 0;
  };
  const xs = keep.map((k) => k.curve.xs[k.index]);
  const ys = keep.map((k) => k.curve.ys[k.index]);
  const dx = shift(Math.min(...xs), Math.max(...xs), W);
  const dy = shift(Math.min(...ys), Math.max(...ys), H);
  if (dx === 0 && dy === 0) return;
  for (const c of curves.values()) {
    for (let i = 0; i < c.xs.length; i++) {
      c.xs[i] += dx;
      c.ys[i] += dy;
    }
  }
  pose.tx += dx / pose.kx;
  pose.ty += dy / pose.ky;
}

/** The curves sampled about one output pixel apart, by name, in the anatomy's order. */
export function sampleCurves(specs: CurveSpec[]): Map<string, Curve> {
  const curves = new Map<string, Curve>();
  for (const s of specs) curves.set(s.name, sampleSpline(s, 1));
  return curves;
}
