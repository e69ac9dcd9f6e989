// Rendering a synthetic cephalogram from its sampled contours: region fills (soft tissue, brain, bone bodies, teeth),
// Gaussian-profile strokes for cortical bone (fainter on the soft-tissue profile and the thin cortices, dark for the
// airway), the far side of bilateral structures, bright occluders, then blur, scatter and the exposure (quality.ts).
// Each step draws from the image's Rng in a fixed order.
import type { Rng } from '../../engine/random.ts';
import { posed } from './anatomy.ts';
import type { Pose } from './anatomy.ts';
import type { FarSide } from './bilateral.ts';
import type { Curve } from './geometry.ts';
import { drawOccluders } from './occluders.ts';
import type { Occluders } from './occluders.ts';
import { blurAndScatter, expose } from './quality.ts';
import type { Quality } from './quality.ts';
import { StrokeRenderer, fillPolygon } from './raster.ts';

/** The image of the curves at this quality, W x H gray levels (rows top to bottom), and the occluders it was drawn with. */
export function renderImage(curves: Map<string, Curve>, far: FarSide, pose: Pose, quality: Quality, W: number, H: number, rng: Rng): { pixels: Uint8Array; occluders: Occluders } {
  const img = new Float32Array(W * H);
  img.fill(rng.uniform(6, 20));
  fillRegions(img, W, H, curves, pose, quality, rng);
  drawStrokes(img, W, H, curves, far, Math.sqrt(pose.kx * pose.ky), quality, rng);
  const occluders = drawOccluders(img, W, H, curves, pose, rng);
  blurAndScatter(img, W, H, quality);
  return { pixels: expose(img, W, H, quality, rng), occluders };
}

/** A random amplitude factor for each fill and stroke. */
const amplitude = (rng: Rng): number => rng.uniform(0.85, 1.15);

/** The samples of the curves end to end (each one forwards or backwards), as one polygon. */
function joinCurves(...parts: { c: Curve; reverse?: boolean }[]): { xs: number[]; ys: number[] } {
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
}

/** Reference-frame points that close the head outline round the back of the neck, below the image. */
const NECK_BACK: [number, number][] = [[1000, 2520], [250, 2520], [150, 1900], [90, 1500]];

function fillRegions(img: Float32Array, W: number, H: number, curves: Map<string, Curve>, pose: Pose, q: Quality, rng: Rng): void {
  const get = (name: string): Curve => curves.get(name)!;
  // Soft tissue: scalp (back -> top -> forehead), profile (forehead -> neck), then round the back of the neck.
  const head = joinCurves({ c: get('scalp') }, { c: get('softProfile') });
  for (const [x, y] of NECK_BACK) {
    const p = posed(pose, x, y);
    head.xs.push(p.x);
    head.ys.push(p.y);
  }
  fillPolygon(img, W, H, head.xs, head.ys, 42 * q.softTissue * amplitude(rng));
  const mid = get('midface');
  fillPolygon(img, W, H, mid.xs, mid.ys, 16 * amplitude(rng));
  const brain = joinCurves({ c: get('vaultInner') }, { c: get('cranialBase'), reverse: true });
  fillPolygon(img, W, H, brain.xs, brain.ys, 22 * amplitude(rng));
  const mand = joinCurves({ c: get('mandible') }, { c: get('ramusAnterior'), reverse: true });
  fillPolygon(img, W, H, mand.xs, mand.ys, 30 * amplitude(rng));
  for (const name of ['palate', 'upperIncisor', 'lowerIncisor']) {
    const c = get(name);
    fillPolygon(img, W, H, c.xs, c.ys, (name === 'palate' ? 38 : 62) * amplitude(rng));
  }
  for (const c of curves.values()) {
    if (c.name.includes('Molar')) fillPolygon(img, W, H, c.xs, c.ys, 68 * amplitude(rng));
    if (c.name.startsWith('vertebra')) fillPolygon(img, W, H, c.xs, c.ys, 38 * amplitude(rng));
  }
}

/** [curve, amplitude, width in reference pixels]: cortical bone bright, the soft-tissue profile faint, the airway dark. */
const STROKES: [string, number, number][] = [
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
/** Thin cortices, which quality.weakEdge fades. */
const WEAK = new Set(['orbit', 'maxilla', 'basiocciput', 'palate', 'ramusAnterior']);

/** The strokes, and the far sides' after their near sides'; k converts reference-frame lengths to output pixels. */
function drawStrokes(img: Float32Array, W: number, H: number, curves: Map<string, Curve>, far: FarSide, k: number, q: Quality, rng: Rng): void {
  const strokes = new StrokeRenderer(W, H);
  for (const [name, a, s] of STROKES) {
    const amp = a * amplitude(rng) * (WEAK.has(name) ? q.weakEdge : 1) * (name === 'softProfile' ? q.softTissue : 1);
    strokes.draw(img, curves.get(name)!, amp, s * k);
    const farSide = far.curves.get(name);
    if (farSide) strokes.draw(img, farSide, amp * far.amplitude, s * k);
  }
  for (const c of curves.values()) {
    if (c.name.includes('Molar')) strokes.draw(img, c, 40 * amplitude(rng), 4 * k);
    if (c.name.startsWith('vertebra')) strokes.draw(img, c, 52 * amplitude(rng), 5 * k);
  }
}
