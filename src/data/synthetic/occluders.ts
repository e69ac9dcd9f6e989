// Bright occluders of the synthetic cephalograms, drawn before the blur like any attenuating object: metal fillings
// in molars, orthodontic brackets, molar bands and the arch wire, the nasion relator's ruler in front of the face,
// and a label in a corner. Each appears in a share of the images (OCCLUDERS in params.ts).
import type { Rng } from '../../engine/random.ts';
import { posed } from './anatomy.ts';
import type { Pose } from './anatomy.ts';
import { pt, sampleSpline } from './geometry.ts';
import type { Curve, Pt } from './geometry.ts';
import { OCCLUDERS as O } from './params.ts';
import { StrokeRenderer, fillPolygon } from './raster.ts';

/** Pre-exposure intensity of metal: above any bone, so it saturates where it overlaps one. */
const METAL = 170;

/** Which occluders an image has. */
export interface Occluders {
  fillings: boolean;
  braces: boolean;
  ruler: boolean;
  label: boolean;
}

export function drawOccluders(img: Float32Array, W: number, H: number, curves: Map<string, Curve>, pose: Pose, rng: Rng): Occluders {
  const k = Math.hypot(pose.cos, pose.sin) * Math.sqrt(pose.kx * pose.ky);
  const strokes = new StrokeRenderer(W, H);
  const draw = { fillings: rng.uniform() < O.fillingShare, braces: rng.uniform() < O.bracesShare, ruler: rng.uniform() < O.rulerShare, label: rng.uniform() < O.labelShare };
  if (draw.fillings) fillings(img, W, H, curves, rng);
  if (draw.braces) braces(img, W, H, curves, strokes, k);
  if (draw.ruler) ruler(img, W, H, curves, pose, strokes, rng);
  if (draw.label) label(img, W, H, rng);
  return draw;
}

/** An ellipse as a 24-gon. */
function ellipse(cx: number, cy: number, rx: number, ry: number): { xs: number[]; ys: number[] } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < 24; i++) {
    xs.push(cx + rx * Math.cos((2 * Math.PI * i) / 24));
    ys.push(cy + ry * Math.sin((2 * Math.PI * i) / 24));
  }
  return { xs, ys };
}

function box(c: Curve): { x0: number; x1: number; y0: number; y1: number } {
  return { x0: Math.min(...c.xs), x1: Math.max(...c.xs), y0: Math.min(...c.ys), y1: Math.max(...c.ys) };
}

/** 1..3 molars with a filling on their biting side. */
function fillings(img: Float32Array, W: number, H: number, curves: Map<string, Curve>, rng: Rng): void {
  const molars = [...curves.values()].filter((c) => c.name.includes('Molar'));
  const count = 1 + Math.floor(rng.uniform(0, 3));
  for (let n = 0; n < count; n++) {
    const m = molars[Math.floor(rng.uniform(0, molars.length))];
    const b = box(m);
    const biting = m.name.startsWith('upper') ? 0.7 : 0.3;
    const e = ellipse((b.x0 + b.x1) / 2, b.y0 + biting * (b.y1 - b.y0), 0.3 * (b.x1 - b.x0), 0.18 * (b.y1 - b.y0));
    fillPolygon(img, W, H, e.xs, e.ys, METAL * rng.uniform(0.7, 1));
  }
}

/** A straight segment as a curve (for strokes). */
function segment(a: Pt, b: Pt): Curve {
  return sampleSpline({ name: 'segment', closed: false, points: [a, b] }, 1);
}

/** A bracket on each incisor's labial face, bands on the first molars, and the wire between them. */
function braces(img: Float32Array, W: number, H: number, curves: Map<string, Curve>, strokes: StrokeRenderer, k: number): void {
  const side = 30 * k;
  const at = (name: string, control: number): Pt => {
    const c = curves.get(name)!;
    const i = c.control[control];
    return pt(c.xs[i], c.ys[i]);
  };
  const upper = at('upperIncisor', 2);
  const lower = at('lowerIncisor', 2);
  for (const p of [upper, lower]) {
    fillPolygon(img, W, H, [p.x - side / 2, p.x + side / 2, p.x + side / 2, p.x - side / 2], [p.y - side / 2, p.y - side / 2, p.y + side / 2, p.y + side / 2], METAL);
  }
  for (const [molar, incisor] of [['upperMolar3', upper], ['lowerMolar3', lower]] as const) {
    const m = curves.get(molar)!;
    strokes.draw(img, m, METAL * 0.8, 3 * k);
    const b = box(m);
    strokes.draw(img, segment(pt((b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2), incisor), METAL * 0.7, 2 * k);
  }
}

/** A vertical ruler with a tick every 10 mm, just in front of the soft-tissue nasion (the nasion relator). */
function ruler(img: Float32Array, W: number, H: number, curves: Map<string, Curve>, pose: Pose, strokes: StrokeRenderer, rng: Rng): void {
  const profile = curves.get('softProfile')!;
  const nasion = profile.control[3];
  const x = profile.xs[nasion] + rng.uniform(40, 90) * pose.kx;
  const top = posed(pose, 1480, 600).y;
  const bottom = posed(pose, 1480, 1250).y;
  const half = 20 * pose.kx;
  fillPolygon(img, W, H, [x - half, x + half, x + half, x - half], [top, top, bottom, bottom], 45);
  const tick = 100 * pose.ky * Math.hypot(pose.cos, pose.sin);
  for (let y = top; y <= bottom; y += tick) strokes.draw(img, segment(pt(x - half, y), pt(x + half * 0.2, y)), METAL * 0.8, 2 * pose.kx);
}

/** A bright label with dark marks in the top- or bottom-right corner. */
function label(img: Float32Array, W: number, H: number, rng: Rng): void {
  const w = 0.14 * W;
  const h = 0.05 * H;
  const x0 = W * rng.uniform(0.8, 0.84);
  const y0 = rng.uniform() < 0.5 ? H * rng.uniform(0.02, 0.06) : H * rng.uniform(0.88, 0.92);
  fillPolygon(img, W, H, [x0, x0 + w, x0 + w, x0], [y0, y0, y0 + h, y0 + h], METAL * 0.7);
  for (let c = 0; c < 5; c++) {
    const cx = x0 + (c + 0.6) * (w / 5.5);
    fillPolygon(img, W, H, [cx, cx + w / 9, cx + w / 9, cx], [y0 + h * 0.25, y0 + h * 0.25, y0 + h * 0.75, y0 + h * 0.75], -METAL * 0.5);
  }
}
