// Geometry of a generated synthetic case for the tests: contours by name, the nearest contour sample, and each
// annotator click taken apart into its share of the way to the far side and its noise along and across the contour.
import type { SyntheticCase } from '../../src/data/synthetic/dataset.ts';

export function curveOf(c: SyntheticCase, name: string): Float32Array {
  const curve = c.curves.find((k) => k.name === name);
  if (!curve) throw new Error(`no curve ${name}`);
  return curve.points;
}

/** The nearest sample of the polyline to (x, y): its index, distance, and the unit tangent over +-window samples. */
export function nearest(points: Float32Array, x: number, y: number, window = 6): { index: number; d: number; tx: number; ty: number } {
  let best = Infinity;
  let bi = 0;
  for (let i = 0; i < points.length; i += 2) {
    const d = Math.hypot(points[i] - x, points[i + 1] - y);
    if (d < best) {
      best = d;
      bi = i;
    }
  }
  const a = Math.max(0, bi - 2 * window);
  const b = Math.min(points.length - 2, bi + 2 * window);
  const tx = points[b] - points[a];
  const ty = points[b + 1] - points[a + 1];
  const l = Math.hypot(tx, ty) || 1;
  return { index: bi / 2, d: best, tx: tx / l, ty: ty / l };
}

/** The far side's curve name of a near-side contour, where it has one. */
export const FAR_SIDE: Record<string, string> = { ear: 'farEar', orbit: 'farOrbit', mandible: 'farMandible' };

/**
 * Annotator a's click on landmark k, less the truth and (on a bilateral landmark) its recorded share of the way to the
 * far side's point: the noise left, along and across the contour, in mm; and how far apart near and far side are.
 */
export function clickNoiseMm(c: SyntheticCase, k: number, a: 0 | 1): { along: number; across: number; farGapMm: number } {
  const x = c.truth[2 * k];
  const y = c.truth[2 * k + 1];
  const curve = c.curves.find((q) => q.name === c.landmarkCurves[k])!;
  const near = nearest(curve.points, x, y, 1);
  if (curve.closed) {
    // The generator's tangent wraps round a closed contour (at a tip such as PNS, sample 0).
    const n = curve.points.length / 2;
    const [i0, i1] = [(near.index - 1 + n) % n, (near.index + 1) % n];
    const tx = curve.points[2 * i1] - curve.points[2 * i0];
    const ty = curve.points[2 * i1 + 1] - curve.points[2 * i0 + 1];
    const l = Math.hypot(tx, ty) || 1;
    near.tx = tx / l;
    near.ty = ty / l;
  }
  let dx = c.annotators[a][2 * k] - x;
  let dy = c.annotators[a][2 * k + 1] - y;
  let farGapMm = 0;
  const w = c.clicks[a].farWeight[k];
  if (!Number.isNaN(w)) {
    const far = curveOf(c, FAR_SIDE[c.landmarkCurves[k]]);
    const fx = far[2 * near.index] - x;
    const fy = far[2 * near.index + 1] - y;
    dx -= w * fx;
    dy -= w * fy;
    farGapMm = Math.hypot(fx, fy) * c.pixelSizeMm;
  }
  return { along: (dx * near.tx + dy * near.ty) * c.pixelSizeMm, across: (dx * -near.ty + dy * near.tx) * c.pixelSizeMm, farGapMm };
}
