// The evaluation report: one self-contained HTML page (no network, no scripts: inline SVG plots, images as data:
// URIs) with the paper's figures and tables:
//   - the reliability diagram (accuracy per confidence bin against the diagonal, ECE before and after temperature
//     scaling), as plots.reliability_diagram draws it (10 bins over [0, 0.15]);
//   - the expected radial error against the true radial error (binned means of 36 landmarks, with the Pearson
//     correlation), as plots.radial_error_vs_ere_graph;
//   - the ROC curve of ERE as a detector of erroneous landmarks (> 4 mm) with its AUC and the threshold at the first
//     TPR > 0.5 marked, as plots.roc_outlier_graph;
//   - MRE / SDR overall, per landmark, and for the good / erroneous sets split by ERE;
//   - overlays of a few test images: the folded probability maps colour-mapped (inferno) over the grayscale image,
//     true points (green crosses), predicted points (red dots), and predictions flagged erroneous by ERE (yellow
//     squares), with a line from each prediction to its truth.
// Browser and Node: renderReport returns a string; overlayPng returns PNG bytes (compressor injected, png.ts).
import type { IsbiSample } from '../data/isbi.ts';
import { ISBI_LANDMARK_NAMES } from '../data/isbi.ts';
import type { CalibrationResult } from '../chh/metrics/calibration.ts';
import type { CalibrateResult } from '../chh/calibrate.ts';
import type { EvaluationResult, HeatmapSnapshot } from '../chh/evaluate.ts';
import { encodePng, pngDataUri, type PngImage, type ZlibCompress } from '../io/png.ts';

// ---------------------------------------------------------------------------------------------------------------
// Overlays

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

// ---------------------------------------------------------------------------------------------------------------
// HTML

export interface ReportData {
  title?: string;
  evaluation: EvaluationResult;
  /** The temperature-scaling run (on the fine-tuning set), if any. */
  calibration?: CalibrateResult | null;
  overlays?: readonly ReportOverlay[];
  /** Landmark names (default: the ISBI names when there are 19 landmarks, else "landmark i"). */
  landmarkNames?: readonly string[];
  /** Extra lines for the header (model, data, command line, date...). */
  notes?: readonly string[];
}

/** A number for display; null, undefined, NaN and infinities show as an en dash (JSON turns NaN into null). */
function fmt(v: number | null | undefined, digits = 3): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–';
}

function num(v: number | null | undefined): number {
  return typeof v === 'number' ? v : NaN;
}

function numbers(v: ArrayLike<number> | Record<string, number> | null | undefined): number[] {
  if (!v) return [];
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v as ArrayLike<number>);
  return Object.values(v as Record<string, number>);
}

/** The temperature-scaling objective in words (results written before the option existed fitted the NLL). */
function objectiveText(objective: CalibrateResult['settings']['objective']): string {
  return objective === 'ece' ? 'ECE of the first half (one Adam step per epoch)' : "NLL (the reference's CHH loss)";
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) out.push(Number(t.toFixed(10)));
  return out;
}

class Plot {
  readonly parts: string[] = [];
  readonly w = 420;
  readonly h = 380;
  readonly m = { l: 56, r: 14, t: 30, b: 46 };
  constructor(
    readonly id: string,
    readonly title: string,
    readonly x0: number,
    readonly x1: number,
    readonly y0: number,
    readonly y1: number,
    readonly xlabel: string,
    readonly ylabel: string,
  ) {}
  sx(v: number): number {
    return this.m.l + ((v - this.x0) / (this.x1 - this.x0 || 1)) * (this.w - this.m.l - this.m.r);
  }
  sy(v: number): number {
    return this.h - this.m.b - ((v - this.y0) / (this.y1 - this.y0 || 1)) * (this.h - this.m.t - this.m.b);
  }
  add(svg: string): void {
    this.parts.push(svg);
  }
  text(x: number, y: number, s: string, attrs = ''): void {
    this.add(`<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`);
  }
  /** A label box in the lower right corner of the plot area. */
  note(lines: string[]): void {
    const x = this.w - this.m.r - 8;
    let y = this.h - this.m.b - 10 - 16 * (lines.length - 1);
    const width = Math.max(...lines.map((s) => s.length)) * 7 + 12;
    this.add(`<rect x="${(x - width + 4).toFixed(1)}" y="${(y - 14).toFixed(1)}" width="${width}" height="${16 * lines.length + 6}" fill="#fff" fill-opacity="0.85" stroke="#999"/>`);
    for (const s of lines) {
      this.text(x, y, s, 'text-anchor="end" font-size="13"');
      y += 16;
    }
  }
  render(): string {
    const { w, h, m } = this;
    const grid: string[] = [];
    for (const t of niceTicks(this.x0, this.x1)) {
      const x = this.sx(t);
      grid.push(`<line x1="${x.toFixed(1)}" y1="${m.t}" x2="${x.toFixed(1)}" y2="${h - m.b}" stroke="#e4e4e4"/>`);
      grid.push(`<text x="${x.toFixed(1)}" y="${h - m.b + 16}" text-anchor="middle" font-size="11">${esc(String(t))}</text>`);
    }
    for (const t of niceTicks(this.y0, this.y1)) {
      const y = this.sy(t);
      grid.push(`<line x1="${m.l}" y1="${y.toFixed(1)}" x2="${w - m.r}" y2="${y.toFixed(1)}" stroke="#e4e4e4"/>`);
      grid.push(`<text x="${m.l - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" font-size="11">${esc(String(t))}</text>`);
    }
    return [
      `<svg id="${esc(this.id)}" xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" role="img" aria-label="${esc(this.title)}">`,
      `<defs><clipPath id="${esc(this.id)}-clip"><rect x="${m.l}" y="${m.t}" width="${w - m.l - m.r}" height="${h - m.t - m.b}"/></clipPath></defs>`,
      `<rect x="0" y="0" width="${w}" height="${h}" fill="#fff"/>`,
      ...grid,
      `<g clip-path="url(#${esc(this.id)}-clip)">`,
      ...this.parts,
      `</g>`,
      `<rect x="${m.l}" y="${m.t}" width="${w - m.l - m.r}" height="${h - m.t - m.b}" fill="none" stroke="#333"/>`,
      `<text x="${w / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(this.title)}</text>`,
      `<text x="${(m.l + (w - m.r)) / 2}" y="${h - 10}" text-anchor="middle" font-size="13">${esc(this.xlabel)}</text>`,
      `<text x="14" y="${(m.t + (h - m.b)) / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 14 ${(m.t + (h - m.b)) / 2})">${esc(this.ylabel)}</text>`,
      `</svg>`,
    ].join('\n');
  }
}

/** The reliability diagram of one CalibrationResult: accuracy bars (blue), confidence bars (lime, the gap), diagonal. */
export function reliabilityDiagramSvg(id: string, title: string, cal: CalibrationResult, eceNote: string[] = []): string {
  const bins = cal.bins;
  const step = bins.length > 0 ? num(bins[0].hi) - num(bins[0].lo) : 0.1;
  const xmax = step * bins.length;
  let top = 2 * xmax;
  for (const b of bins) {
    if (Number.isFinite(num(b.accuracy))) top = Math.max(top, num(b.accuracy));
    if (Number.isFinite(num(b.confidence))) top = Math.max(top, num(b.confidence));
  }
  top = Math.min(1, top * 1.05);
  const p = new Plot(id, title, 0, xmax, 0, top, 'Confidence (mode probability)', 'Accuracy');
  p.add(`<line x1="${p.sx(0)}" y1="${p.sy(0)}" x2="${p.sx(Math.min(xmax, top))}" y2="${p.sy(Math.min(xmax, top))}" stroke="#555" stroke-dasharray="5 4"/>`);
  bins.forEach((b, i) => {
    const x = p.sx(i * step);
    const bw = p.sx((i + 1) * step) - x;
    const acc = num(b.accuracy);
    const conf = num(b.confidence);
    if (Number.isFinite(acc)) {
      p.add(`<rect class="accuracy" x="${x.toFixed(1)}" y="${p.sy(acc).toFixed(1)}" width="${bw.toFixed(1)}" height="${(p.sy(0) - p.sy(acc)).toFixed(1)}" fill="#1f3fff" stroke="#000"><title>bin [${fmt(num(b.lo))}, ${fmt(num(b.hi))}): ${b.count} landmarks, accuracy ${fmt(acc)}, confidence ${fmt(conf)}</title></rect>`);
    }
    if (Number.isFinite(conf)) {
      p.add(`<rect class="confidence" x="${x.toFixed(1)}" y="${p.sy(conf).toFixed(1)}" width="${bw.toFixed(1)}" height="${(p.sy(0) - p.sy(conf)).toFixed(1)}" fill="#00ff00" fill-opacity="0.45" stroke="#000"/>`);
    }
  });
  p.add(`<rect x="${p.m.l + 4}" y="${p.m.t + 4}" width="128" height="40" fill="#fff" fill-opacity="0.85" stroke="#999"/>`);
  p.add(`<rect x="${p.m.l + 8}" y="${p.m.t + 8}" width="12" height="12" fill="#1f3fff" stroke="#000"/>`);
  p.text(p.m.l + 26, p.m.t + 18, 'Accuracy', 'font-size="12"');
  p.add(`<rect x="${p.m.l + 8}" y="${p.m.t + 26}" width="12" height="12" fill="#00ff00" fill-opacity="0.45" stroke="#000"/>`);
  p.text(p.m.l + 26, p.m.t + 36, 'Confidence (gap)', 'font-size="12"');
  p.note([`ECE = ${fmt(100 * num(cal.ece), 2)}%`, ...eceNote]);
  return p.render();
}

export function ereVsErrorSvg(ev: EvaluationResult): string {
  const r = ev.summary.ereVsError;
  const bins = r.bins;
  let hi = 0;
  for (const b of bins) hi = Math.max(hi, num(b.meanEre), num(b.meanError));
  // The raw landmarks, faint, behind the binned means (capped so the page stays light).
  const raw: [number, number][] = [];
  const stride = Math.max(1, Math.ceil(ev.summary.count / 4000));
  let k = 0;
  for (const e of ev.images) {
    for (let l = 0; l < e.ereMm.length; l++, k++) if (k % stride === 0) raw.push([num(e.ereMm[l]), num(e.radialErrorsMm[l])]);
  }
  const rawHi = Math.max(hi, ...raw.map(([x]) => x));
  const top = (hi > 0 ? hi : rawHi > 0 ? rawHi : 1) * 1.15;
  const p = new Plot('ere-vs-error', 'True radial error vs expected radial error', 0, top, 0, top, 'Expected radial error, ERE (mm)', 'True radial error (mm)');
  p.add(`<line x1="${p.sx(0)}" y1="${p.sy(0)}" x2="${p.sx(top)}" y2="${p.sy(top)}" stroke="#bbb" stroke-dasharray="4 4"/>`);
  for (const [x, y] of raw) p.add(`<circle cx="${p.sx(x).toFixed(1)}" cy="${p.sy(y).toFixed(1)}" r="1.5" fill="#888" fill-opacity="0.25"/>`);
  for (const b of bins) {
    p.add(`<circle class="bin" cx="${p.sx(num(b.meanEre)).toFixed(1)}" cy="${p.sy(num(b.meanError)).toFixed(1)}" r="5" fill="#32cd32" stroke="#000"><title>${b.count} landmarks: mean ERE ${fmt(num(b.meanEre))} mm, mean error ${fmt(num(b.meanError))} mm</title></circle>`);
  }
  p.note([`correlation (binned) = ${fmt(num(r.binnedCorrelation), 2)}`, `correlation (raw) = ${fmt(num(r.rawCorrelation), 2)}`, `${bins.length} bins of ${r.binSize}`]);
  return p.render();
}

export function rocSvg(ev: EvaluationResult): string {
  const roc = ev.summary.roc;
  const p = new Plot('roc', `ROC of ERE for errors > ${fmt(roc?.outlierThresholdMm ?? 4, 1)} mm`, 0, 1, 0, 1, 'False positive rate', 'True positive rate');
  p.add(`<line x1="${p.sx(0)}" y1="${p.sy(0)}" x2="${p.sx(1)}" y2="${p.sy(1)}" stroke="#000" stroke-dasharray="6 5"/>`);
  if (!roc) {
    p.text(p.sx(0.5), p.sy(0.55), 'undefined: every landmark is on one', 'text-anchor="middle" font-size="13"');
    p.text(p.sx(0.5), p.sy(0.47), 'side of the error threshold', 'text-anchor="middle" font-size="13"');
    return p.render();
  }
  const pts = roc.fpr.map((f, i) => `${p.sx(num(f)).toFixed(1)},${p.sy(num(roc.tpr[i])).toFixed(1)}`).join(' ');
  p.add(`<polyline class="roc" points="${pts}" fill="none" stroke="#0000ff" stroke-width="2"/>`);
  const i = roc.tpr.findIndex((t) => num(t) > 0.5);
  if (i >= 0) {
    const x = p.sx(num(roc.fpr[i]));
    const y = p.sy(num(roc.tpr[i]));
    p.add(`<circle class="threshold" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="6" fill="#ff3030" stroke="#000"/>`);
    p.text(x + 9, y - 8, `ERE ≥ ${fmt(num(roc.proposedThreshold), 2)} mm`, 'font-size="12"');
  }
  p.note([`AUC = ${fmt(num(roc.auc), 3)}`, `${roc.positives} erroneous of ${roc.positives + roc.negatives}`, `threshold (TPR > 0.5) = ${fmt(num(roc.proposedThreshold), 2)} mm`]);
  return p.render();
}

function sdrCells(sdr: readonly { thresholdMm: number; percent: number }[]): string {
  return sdr.map((s) => `<td>${fmt(num(s.percent), 2)}</td>`).join('');
}

function sdrHeads(sdr: readonly { thresholdMm: number }[]): string {
  return sdr.map((s) => `<th>SDR ${fmt(num(s.thresholdMm), 1)} mm (%)</th>`).join('');
}

/** The report page. */
export function renderReport(data: ReportData): string {
  const ev = data.evaluation;
  const s = ev.summary;
  const cal = data.calibration ?? null;
  const L = ev.landmarks;
  const names = data.landmarkNames ?? (L === ISBI_LANDMARK_NAMES.length ? ISBI_LANDMARK_NAMES : Array.from({ length: L }, (_, i) => `landmark ${i + 1}`));
  const title = data.title ?? `Contour-Hugging Heatmaps: evaluation${ev.label ? ` of ${ev.label}` : ''}`;
  const temps = numbers(ev.temperatures);

  // Reliability diagrams: the test set before (comparison temperatures) and after, else after only.
  const reliability: string[] = [];
  const calNote = cal ? [`fine-tune set: ${fmt(100 * num(cal.eceBefore), 2)}% → ${fmt(100 * num(cal.eceAfter), 2)}%`] : [];
  if (ev.comparison) {
    reliability.push(reliabilityDiagramSvg('reliability-before', `Reliability, T = ${numbers(ev.comparison.temperatures).every((t) => t === 1) ? '1 (before scaling)' : 'comparison'}`, ev.comparison.calibration));
  }
  reliability.push(reliabilityDiagramSvg('reliability', `Reliability diagram${ev.comparison ? ' (calibrated T)' : ''}`, s.calibration, ev.comparison ? [`before: ${fmt(100 * num(ev.comparison.calibration.ece), 2)}%`] : calNote));

  const perLandmark = s.perLandmark
    .map((m, l) => {
      const errs = ev.images.map((e) => num(e.radialErrorsMm[l]));
      const sdr = [2, 2.5, 3, 4].map((t) => (100 * errs.filter((v) => v < t).length) / Math.max(1, errs.length));
      const ere = ev.images.reduce((a, e) => a + num(e.ereMm[l]), 0) / Math.max(1, ev.images.length);
      const flagged = ev.images.filter((e) => e.flagged[l]).length;
      return `<tr><td>${l + 1}</td><td>${esc(names[l] ?? '')}</td><td>${fmt(num(m.mean))}</td><td>${fmt(num(m.std))}</td>${sdr.map((v) => `<td>${fmt(v, 1)}</td>`).join('')}<td>${fmt(ere)}</td><td>${fmt(temps[l], 3)}</td><td>${flagged}</td></tr>`;
    })
    .join('\n');

  const split = s.split;
  const group = (name: string, g: typeof split.good) => `<tr><td>${name}</td><td>${g.count}</td><td>${fmt(num(g.mre))}</td><td>${fmt(num(g.std))}</td>${sdrCells(g.sdr)}</tr>`;

  const eceFit = cal?.settings.objective === 'ece';
  const history = cal
    ? `<h2>Temperature scaling</h2>
<p>Objective: <b id="calibration-objective">${objectiveText(cal.settings.objective)}</b>. Fitted on ${cal.fitCount} images (${cal.settings.augmented ? 'augmented' : 'not augmented'}), ECE measured on ${cal.validationCount}; Adam lr ${fmt(cal.settings.lr, 4)}, batch ${cal.settings.batchSize}, ${cal.settings.epochs} epochs; best epoch <b>${cal.bestEpoch}</b>. ECE on the fine-tune set: <b id="ece-before">${fmt(100 * num(cal.eceBefore), 2)}%</b> before, <b id="ece-after">${fmt(100 * num(cal.eceAfter), 2)}%</b> after.</p>
<table class="num"><thead><tr><th>epoch</th><th>NLL (fit)</th>${eceFit ? '<th>ECE (fit, %)</th>' : ''}<th>NLL (validation)</th><th>ECE (%)</th><th>temperatures</th></tr></thead><tbody>
${cal.history.map((h) => `<tr${h.epoch === cal.bestEpoch ? ' class="best"' : ''}><td>${h.epoch}</td><td>${fmt(num(h.nll))}</td>${eceFit ? `<td>${fmt(100 * num(h.fitEce ?? NaN), 2)}</td>` : ''}<td>${fmt(num(h.validationNll))}</td><td>${fmt(100 * num(h.ece), 2)}</td><td class="temps">${numbers(h.temperatures).map((t) => fmt(t, 3)).join(' ')}</td></tr>`).join('\n')}
</tbody></table>`
    : '';

  const overlays = (data.overlays ?? [])
    .map((o) => {
      const src = typeof o.png === 'string' ? o.png : pngDataUri(o.png);
      return `<figure><img src="${esc(src)}" alt="${esc(`heatmap overlay of ${o.id}`)}"><figcaption>${esc(o.caption ?? o.id)}</figcaption></figure>`;
    })
    .join('\n');

  const roc = s.roc;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1340px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots svg { border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
table.num td { text-align: right; font-variant-numeric: tabular-nums; }
table.num td:nth-child(2) { text-align: left; }
tr.best { background: #eaffea; }
td.temps { text-align: left !important; font-family: monospace; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; } figure img { width: 400px; height: auto; image-rendering: pixelated; border: 1px solid #ccc; display: block; }
figcaption { font-size: 12px; max-width: 400px; }
.legend span { margin-right: 16px; }
.note { color: #555; font-size: 13px; }
</style>
</head>
<body>
<h1>${esc(title)}</h1>
${(data.notes ?? []).map((n) => `<p class="note">${esc(n)}</p>`).join('\n')}
<p class="note">${ev.images.length} images of ${ev.width}x${ev.height}, ${L} landmarks each (${s.count} landmarks); predicted point = argmax pixel ${ev.pointConvention === 'centre' ? 'centre' : 'index'}; ERE cutoff ${fmt(ev.cutoff, 2)}; mean NLL ${fmt(ev.meanNll)}.</p>

<h2>Summary</h2>
<table class="num" id="summary"><thead><tr><th>set</th><th>landmarks</th><th>MRE (mm)</th><th>SD (mm)</th>${sdrHeads(s.sdr)}<th>ECE (%)</th></tr></thead><tbody>
<tr><td>all</td><td>${s.count}</td><td id="mre">${fmt(num(s.mre.mean))}</td><td>${fmt(num(s.mre.std))}</td>${sdrCells(s.sdr)}<td id="ece">${fmt(100 * num(s.calibration.ece), 2)}</td></tr>
</tbody></table>
<p>ROC of ERE for erroneous landmarks (true error &gt; ${fmt(roc?.outlierThresholdMm ?? 4, 1)} mm): AUC <b id="auc">${fmt(num(roc?.auc), 3)}</b>; the first TPR &gt; 0.5 is at ERE ≥ <b id="roc-threshold">${fmt(num(roc?.proposedThreshold), 3)}</b> mm. ERE vs true error correlation (binned): <b id="correlation">${fmt(num(s.ereVsError.binnedCorrelation), 3)}</b>.</p>

<h2>Plots</h2>
<div class="plots">
${reliability.join('\n')}
${ereVsErrorSvg(ev)}
${rocSvg(ev)}
</div>

<h2>Good and erroneous landmarks (split by ERE &gt; ${fmt(num(split.ereThresholdMm), 3)} mm)</h2>
<table class="num" id="split"><thead><tr><th>set</th><th>landmarks</th><th>MRE (mm)</th><th>SD (mm)</th>${sdrHeads(split.good.sdr)}</tr></thead><tbody>
${group('good (ERE ≤ threshold)', split.good)}
${group('erroneous (ERE &gt; threshold)', split.erroneous)}
</tbody></table>

<h2>Per landmark</h2>
<table class="num" id="per-landmark"><thead><tr><th>#</th><th>landmark</th><th>MRE (mm)</th><th>SD (mm)</th><th>SDR 2 mm (%)</th><th>SDR 2.5 mm (%)</th><th>SDR 3 mm (%)</th><th>SDR 4 mm (%)</th><th>mean ERE (mm)</th><th>T</th><th>flagged</th></tr></thead><tbody>
${perLandmark}
</tbody></table>
${history}
${overlays ? `<h2>Heatmaps</h2>
<p class="legend"><span style="color:#1a9c1a">+ true point (mean of annotators)</span><span style="color:#d02020">● predicted point</span><span style="color:#b09000">□ flagged erroneous by ERE</span><span>colour: probability maps, each divided by its maximum, maximum over landmarks (inferno)</span></p>
<div class="figures">
${overlays}
</div>` : ''}
</body>
</html>
`;
}
