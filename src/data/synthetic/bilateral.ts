// Bilateral structures drawn twice, as a lateral projection shows them: the far side's ear rod, orbit and mandible
// (ramus and body; the chin is single) are magnified more about the central ray and shifted by the head's yaw and
// roll. The near side is the defining contour; annotators click anywhere between the two (landmarks.ts).
// Parameters: BILATERAL in params.ts.
import type { Rng } from '../../engine/random.ts';
import type { Pose } from './anatomy.ts';
import type { Curve } from './geometry.ts';
import { BILATERAL as B } from './params.ts';

/** The near-side curves that have a far side, and the half-width (mm) their far side is drawn with. */
const DOUBLED: { curve: string; far: string; halfWidth: keyof typeof B.halfWidthMm }[] = [
  { curve: 'ear', far: 'farEar', halfWidth: 'ear' },
  { curve: 'orbit', far: 'farOrbit', halfWidth: 'orbit' },
  { curve: 'mandible', far: 'farMandible', halfWidth: 'mandible' },
];
/** The mandible's far side narrows from the gonial angle (control 6) to nothing at the chin (control 10). */
const MANDIBLE_ANGLE = 6;
const MANDIBLE_CHIN = 10;

export interface FarSide {
  /** Far-side curves by near-side name: the same samples (index for index) moved; the mandible's cut at the chin. */
  curves: Map<string, Curve>;
  amplitude: number;
  /** The head's rotation about the vertical and the front-back axis (deg). */
  yawDeg: number;
  rollDeg: number;
}

/** The far sides of the doubled curves, in output pixels. */
export function farSides(curves: Map<string, Curve>, pose: Pose, rng: Rng): FarSide {
  const yawDeg = rng.normal(B.yawDeg);
  const rollDeg = rng.normal(B.rollDeg);
  const yaw = Math.tan((yawDeg * Math.PI) / 180);
  const roll = Math.tan((rollDeg * Math.PI) / 180);
  const amplitude = rng.uniform(...B.farAmplitude);
  const ear = curves.get('ear')!;
  const cx = mean(ear.xs);
  const cy = mean(ear.ys);
  // Output pixels per mm: 10 reference pixels, times the pose's scale and the output's.
  const pxPerMm = 10 * Math.hypot(pose.cos, pose.sin) * Math.sqrt(pose.kx * pose.ky);
  const out = new Map<string, Curve>();
  for (const d of DOUBLED) {
    const near = curves.get(d.curve)!;
    const n = d.curve === 'mandible' ? near.control[MANDIBLE_CHIN] + 1 : near.xs.length;
    const xs = new Float64Array(n);
    const ys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const hw = B.halfWidthMm[d.halfWidth] * (d.curve === 'mandible' ? mandibleTaper(near, i) : 1);
      // The far side is 2 * hw further from the detector: magnified about the ear rods, shifted by yaw and roll.
      const magnification = d.curve === 'ear' ? 0 : (2 * hw) / B.sourceDistanceMm;
      const along = 2 * hw * pxPerMm * yaw;
      const down = 2 * hw * pxPerMm * roll;
      xs[i] = near.xs[i] + magnification * (near.xs[i] - cx) + along * pose.forward[0] + down * pose.down[0];
      ys[i] = near.ys[i] + magnification * (near.ys[i] - cy) + along * pose.forward[1] + down * pose.down[1];
    }
    out.set(d.curve, { name: d.far, closed: near.closed && n === near.xs.length, xs, ys, control: near.control.filter((c) => c < n) });
  }
  return { curves: out, amplitude, yawDeg, rollDeg };
}

/** 1 up to the gonial angle, falling linearly (in samples) to 0 at the chin. */
function mandibleTaper(c: Curve, i: number): number {
  const a = c.control[MANDIBLE_ANGLE];
  const b = c.control[MANDIBLE_CHIN];
  return i <= a ? 1 : Math.max(0, (b - i) / (b - a));
}

function mean(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}
