// Heatmap overlays of test images for the report: the folded probability maps colour-mapped (inferno) over the
// grayscale image, true points (green crosses), predicted points (red dots), predictions flagged erroneous by ERE
// (yellow squares) and a line from each prediction to its truth. Raw pixels (overlayImage, for the demo's canvas)
// or PNG bytes (overlayPng, compressor injected, io/png.ts), so it runs in the browser and in Node alike.
import type { IsbiSample } from '../data/isbi.ts';
import type { EvaluationResult, HeatmapSnapshot } from '../chh/evaluate.ts';
import { encodePng, type PngImage, type ZlibCompress } from '../io/png.ts';
import { fmt } from './format.ts';

/** matplotlib's inferno at 0, 0.1, ..., 1. */
const INFERNO: readonly [number, number, number][] = [
  [0, 0, 4],
  [22, 11, 57],
  [66, 10, 104],
  [106, 23, 110],
  [147, 38, 103],
  [188, 55, 84],
  [221, 81, 58],
  [243, 120, 25],
  [252, 165, 10],
  [246, 215, 70],
  [252, 255, 164],
];

/** inferno(v) for v in [0, 1] as RGB bytes. */
export function inferno(v: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * (INFERNO.length - 1);
  const i = Math.min(INFERNO.length - 2, Math.floor(x));
  const f = x - i;
  const a = INFERNO[i];
  const b = INFERNO[i + 1];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

export interface OverlayOptions {
  /** A synchronous zlib compressor (node:zlib deflateSync in Node); default: stored blocks (no compression). */
  compress?: ZlibCompress;
  /** The overlay is the image shrunk by an integer factor to at most this width (default 640). */
  maxWidth?: number;
  /** Heat opacity at a map value of 1 (default 0.85); opacity grows as sqrt(value) so faint contours show. */
  opacity?: number;
}

type Rgb = readonly [number, number, number];

class Canvas {
  readonly pixels: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint8Array(width * height * 3);
  }
  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 3;
    this.pixels[o] = c[0];
    this.pixels[o + 1] = c[1];
    this.pixels[o + 2] = c[2];
  }
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= n; i++) this.set(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, c);
  }
  disk(cx: number, cy: number, r: number, c: Rgb): void {
    for (let dy = -Math.ceil(r); dy <= Math.ceil(r); dy++) {
      for (let dx = -Math.ceil(r); dx <= Math.ceil(r); dx++) if (dx * dx + dy * dy <= r * r) this.set(cx + dx, cy + dy, c);
    }
  }
  cross(cx: number, cy: number, r: number, c: Rgb): void {
    for (const t of [-0.5, 0, 0.5]) {
      this.line(cx - r, cy + t, cx + r, cy + t, c);
      this.line(cx + t, cy - r, cx + t, cy + r, c);
    }
  }
  square(cx: number, cy: number, r: number, c: Rgb): void {
    for (const d of [r, r + 1]) {
      this.line(cx - d, cy - d, cx + d, cy - d, c);
      this.line(cx - d, cy + d, cx + d, cy + d, c);
      this.line(cx - d, cy - d, cx - d, cy + d, c);
      this.line(cx + d, cy - d, cx + d, cy + d, c);
    }
  }
}

const GREEN: Rgb = [40, 255, 60];
const RED: Rgb = [255, 40, 40];
const YELLOW: Rgb = [255, 230, 0];
const LINK: Rgb = [200, 200, 255];

/**
 * The overlay as raw RGB pixels: the sample's grayscale image (box-averaged down to at most maxWidth), the
 * probability map (a HeatmapSnapshot of the same image) colour-mapped on top, then the points: truth (sample's
 * landmarks) as green crosses, predictions as red dots, predictions flagged erroneous as red dots in yellow squares.
 * predicted: L * 2 (x, y) in the sample's pixels; flagged: L booleans. A sample with no landmarks (prediction on
 * an image without annotations) gets the predictions alone.
 */
export function overlayImage(
  sample: Pick<IsbiSample, 'image' | 'width' | 'height' | 'landmarks'>,
  probs: Pick<HeatmapSnapshot, 'width' | 'height' | 'factor' | 'values'> | null,
  predicted: ArrayLike<number>,
  flagged: ArrayLike<boolean>,
  options: OverlayOptions = {},
): PngImage {
  const { width: W, height: H, image } = sample;
  if (image.length !== W * H) throw new Error(`overlayImage: ${image.length} pixels for ${W}x${H}`);
  const hasTruth = sample.landmarks.length > 0;
  const L = predicted.length / 2;
  if (!Number.isInteger(L) || (hasTruth && sample.landmarks.length !== predicted.length)) {
    throw new Error(`overlayImage: ${predicted.length} predicted values for ${sample.landmarks.length / 2} landmarks`);
  }
  if (flagged.length !== L) throw new Error(`overlayImage: ${flagged.length} flags for ${L} landmarks`);
  if (probs && (probs.values.length !== probs.width * probs.height || probs.width * probs.factor < W || probs.height * probs.factor < H)) {
    throw new Error(`overlayImage: the map (${probs.width}x${probs.height}, factor ${probs.factor}) does not cover the ${W}x${H} image`);
  }
  const maxWidth = options.maxWidth ?? 640;
  const opacity = options.opacity ?? 0.85;
  const d = Math.max(1, Math.ceil(W / maxWidth));
  const w = Math.ceil(W / d);
  const h = Math.ceil(H / d);
  const canvas = new Canvas(w, h);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < image.length; i++) {
    lo = Math.min(lo, image[i]);
    hi = Math.max(hi, image[i]);
  }
  const range = hi > lo ? hi - lo : 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      let n = 0;
      let heat = 0;
      for (let yy = y * d; yy < Math.min(H, (y + 1) * d); yy++) {
        for (let xx = x * d; xx < Math.min(W, (x + 1) * d); xx++) {
          s += image[yy * W + xx];
          n++;
          if (probs) heat = Math.max(heat, probs.values[Math.floor(yy / probs.factor) * probs.width + Math.floor(xx / probs.factor)]);
        }
      }
      const g = (255 * (s / n - lo)) / range;
      const a = heat > 0.005 ? opacity * Math.sqrt(Math.min(1, heat)) : 0;
      const c = inferno(heat);
      const o = (y * w + x) * 3;
      canvas.pixels[o] = Math.round(g * (1 - a) + c[0] * a);
      canvas.pixels[o + 1] = Math.round(g * (1 - a) + c[1] * a);
      canvas.pixels[o + 2] = Math.round(g * (1 - a) + c[2] * a);
    }
  }
  const r = Math.max(2, Math.round(w / 160));
  const px = (v: number) => v / d - 0.5; // continuous coordinate -> canvas pixel index
  for (let l = 0; hasTruth && l < L; l++) canvas.line(px(predicted[2 * l]), px(predicted[2 * l + 1]), px(sample.landmarks[2 * l]), px(sample.landmarks[2 * l + 1]), LINK);
  for (let l = 0; hasTruth && l < L; l++) canvas.cross(px(sample.landmarks[2 * l]), px(sample.landmarks[2 * l + 1]), r + 1, GREEN);
  for (let l = 0; l < L; l++) {
    const x = px(predicted[2 * l]);
    const y = px(predicted[2 * l + 1]);
    canvas.disk(x, y, r * 0.8, RED);
    if (flagged[l]) canvas.square(x, y, r + 2, YELLOW);
  }
  return { width: w, height: h, channels: 3, pixels: canvas.pixels };
}

/** overlayImage encoded as PNG bytes. */
export function overlayPng(
  sample: Pick<IsbiSample, 'image' | 'width' | 'height' | 'landmarks'>,
  probs: Pick<HeatmapSnapshot, 'width' | 'height' | 'factor' | 'values'> | null,
  predicted: ArrayLike<number>,
  flagged: ArrayLike<boolean>,
  options: OverlayOptions = {},
): Uint8Array {
  return encodePng(overlayImage(sample, probs, predicted, flagged, options), options.compress);
}

export interface ReportOverlay {
  id: string;
  /** PNG bytes or a data: URI. */
  png: Uint8Array | string;
  caption?: string;
}

/** Overlays of the evaluation's kept heatmaps, matched to the samples by id (images without a sample are skipped). */
export function buildOverlays(evaluation: EvaluationResult, samples: readonly IsbiSample[], options: OverlayOptions = {}): ReportOverlay[] {
  const byId = new Map(samples.map((s) => [s.id, s]));
  const perImage = new Map(evaluation.images.map((e) => [e.id, e]));
  const out: ReportOverlay[] = [];
  for (const map of evaluation.heatmaps) {
    const s = byId.get(map.id);
    const e = perImage.get(map.id);
    if (!s || !e) continue;
    const flaggedCount = e.flagged.filter(Boolean).length;
    const mre = e.radialErrorsMm.reduce((a, b) => a + b, 0) / e.radialErrorsMm.length;
    out.push({
      id: map.id,
      png: overlayPng(s, map, e.predicted, e.flagged, options),
      caption: `${map.id}: MRE ${fmt(mre, 2)} mm, ${flaggedCount} of ${e.flagged.length} flagged (ERE > ${fmt(evaluation.summary.split.ereThresholdMm, 2)} mm)`,
    });
  }
  return out;
}
