// Plane geometry for the synthetic contours: mutable shared points, centripetal Catmull-Rom curves sampled densely
// (through every control point, whose sample index is kept so landmarks can sit on them), arc lengths and tangents.

/** A mutable point; curves share point objects where they meet (so jitter moves both). */
export interface Pt {
  x: number;
  y: number;
}

export const pt = (x: number, y: number): Pt => ({ x, y });

export interface CurveSpec {
  name: string;
  closed: boolean;
  points: Pt[];
}

/** A densely sampled curve in output pixels. `control[i]` is the sample index of control point i. */
export interface Curve {
  name: string;
  closed: boolean;
  xs: Float64Array;
  ys: Float64Array;
  control: Int32Array;
}

/** Samples a centripetal Catmull-Rom spline through the points, about `step` apart; passes through every point. */
export function sampleSpline(spec: CurveSpec, step: number): Curve {
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
    control[s] = xs.length;
    sampleSegment(get(s - 1), get(s), get(s + 1), get(s + 2), step, xs, ys);
  }
  if (!spec.closed) {
    control[n - 1] = xs.length;
    xs.push(p[n - 1].x);
    ys.push(p[n - 1].y);
  }
  return { name: spec.name, closed: spec.closed, xs: Float64Array.from(xs), ys: Float64Array.from(ys), control };
}

/** Appends the samples of the segment p1 -> p2 (p1 itself first, p2 left to the next segment). */
function sampleSegment(p0: Pt, p1: Pt, p2: Pt, p3: Pt, step: number, xs: number[], ys: number[]): void {
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

export function cumulativeLength(c: Curve): Float64Array {
  const out = new Float64Array(c.xs.length);
  for (let i = 1; i < c.xs.length; i++) out[i] = out[i - 1] + Math.hypot(c.xs[i] - c.xs[i - 1], c.ys[i] - c.ys[i - 1]);
  return out;
}

/** The unit tangent at sample i (central difference; one-sided at the ends of an open curve). */
export function tangentAt(c: Curve, i: number): [number, number] {
  const n = c.xs.length;
  const a = c.closed ? (i - 1 + n) % n : Math.max(0, i - 1);
  const b = c.closed ? (i + 1) % n : Math.min(n - 1, i + 1);
  const dx = c.xs[b] - c.xs[a];
  const dy = c.ys[b] - c.ys[a];
  const l = Math.hypot(dx, dy) || 1;
  return [dx / l, dy / l];
}
