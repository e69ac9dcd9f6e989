// The report's figures as inline SVG strings (no scripts, no network), drawn like the paper's plots.py:
//   - reliabilityDiagramSvg: accuracy per confidence bin against the diagonal, with the ECE (plots.reliability_diagram);
//   - ereVsErrorSvg: the true radial error against the expected radial error, binned, with the Pearson correlation
//     (plots.radial_error_vs_ere_graph);
//   - rocSvg: ERE as a detector of erroneous landmarks, with its AUC and the threshold at the first TPR > 0.5
//     (plots.roc_outlier_graph);
//   - difficultySvg: per landmark, its mean error and mean ERE beside how far the annotators disagree (ours).
// Plot holds the shared frame (axes, ticks, grid, labels) so that each figure only adds its marks.
import type { CalibrationResult } from '../chh/metrics/calibration.ts';
import type { EvaluationResult } from '../chh/evaluate.ts';
import { meanStdUnchecked } from '../chh/metrics/radial.ts';
import { esc, fmt, num } from './format.ts';

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
  /** Labelled y ticks in place of the numeric ones (e.g. one row per landmark). */
  yTicks: { v: number; label: string }[] | null = null;
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
    for (const { v, label } of this.yTicks ?? niceTicks(this.y0, this.y1).map((t) => ({ v: t, label: String(t) }))) {
      const y = this.sy(v);
      grid.push(`<line x1="${m.l}" y1="${y.toFixed(1)}" x2="${w - m.r}" y2="${y.toFixed(1)}" stroke="#e4e4e4"/>`);
      grid.push(`<text x="${m.l - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" font-size="11">${esc(label)}</text>`);
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

export interface LandmarkDifficulty {
  mreMm: number;
  meanEreMm: number;
  /** Mean over images of the annotators' disagreement; null where no image has two annotators. */
  annotatorSpreadMm: number | null;
}

/** Per landmark type: its MRE, its mean ERE and the annotators' mean disagreement over the test images. */
export function landmarkDifficulty(ev: EvaluationResult): LandmarkDifficulty[] {
  return ev.summary.perLandmark.map((m, l) => {
    const spreads = ev.images.flatMap((e) => (e.annotatorSpreadMm ? [num(e.annotatorSpreadMm[l])] : []));
    return {
      mreMm: num(m.mean),
      meanEreMm: meanStdUnchecked(ev.images.map((e) => num(e.ereMm[l]))).mean,
      annotatorSpreadMm: spreads.length ? meanStdUnchecked(spreads).mean : null,
    };
  });
}

/**
 * One row per landmark (numbered as in the per-landmark table): MRE (red), mean ERE (green) and the annotators'
 * disagreement (grey), so the hard landmarks, and whether ERE knows they are hard, show at a glance.
 */
export function difficultySvg(ev: EvaluationResult, names: readonly string[]): string {
  const rows = landmarkDifficulty(ev);
  const L = rows.length;
  const hi = Math.max(1e-9, ...rows.flatMap((r) => [r.mreMm, r.meanEreMm, r.annotatorSpreadMm ?? 0].filter(Number.isFinite))) * 1.4; // room for the legend
  const p = new Plot('landmark-difficulty', 'Per landmark: error, ERE and annotator spread', 0, hi, L + 0.5, 0.5, 'mm (mean over the test images)', 'landmark');
  p.yTicks = rows.map((_, l) => ({ v: l + 1, label: String(l + 1) }));
  const mark = (cls: string, v: number | null, y: number, colour: string, what: string, name: string) => {
    if (v === null || !Number.isFinite(v)) return;
    p.add(`<circle class="${cls}" cx="${p.sx(v).toFixed(1)}" cy="${y.toFixed(1)}" r="4.5" fill="${colour}" stroke="#000"><title>${esc(name)}: ${what} ${fmt(v)} mm</title></circle>`);
  };
  rows.forEach((r, l) => {
    const y = p.sy(l + 1);
    const name = names[l] ?? `landmark ${l + 1}`;
    mark('spread', r.annotatorSpreadMm, y - 3, '#a0a0a0', 'annotator spread', name);
    mark('mre', r.mreMm, y, '#e03030', 'MRE', name);
    mark('ere', r.meanEreMm, y + 3, '#32cd32', 'mean ERE', name);
  });
  const legend: [string, string][] = [['#e03030', 'MRE'], ['#32cd32', 'mean ERE'], ['#a0a0a0', 'annotator spread']];
  legend.forEach(([c, s], i) => p.text(p.w - p.m.r - 8, p.m.t + 16 + 15 * i, `● ${s}`, `text-anchor="end" font-size="12" fill="${c}"`));
  return p.render();
}
