// The evaluation report: one self-contained HTML page (no network, no scripts: inline SVG plots from plots.ts, the
// overlays of overlay.ts as data: URIs) with the paper's figures and tables: MRE / SDR overall, per landmark and for
// the good / erroneous sets split by ERE, plus the temperature-scaling run when there is one. renderReport returns a
// string so the browser demo and the Node CLI write the same page; each section is its own function and the page
// is their concatenation.
import { ISBI_LANDMARK_NAMES } from '../data/isbi.ts';
import type { CalibrateResult } from '../chh/calibrate/calibrate.ts';
import type { EvaluationResult } from '../chh/evaluate.ts';
import { pngDataUri } from '../io/png.ts';
import { esc, fmt, num, numbers } from './format.ts';
import type { ReportOverlay } from './overlay.ts';
import { difficultySvg, ereVsErrorSvg, landmarkDifficulty, reliabilityDiagramSvg, rocSvg } from './plots.ts';

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

type Summary = EvaluationResult['summary'];
type SplitGroup = Summary['split']['good'];

/** The temperature-scaling objective in words (results written before the option existed fitted the NLL). */
function objectiveText(objective: CalibrateResult['settings']['objective']): string {
  return objective === 'ece' ? 'ECE of the first half (one Adam step per epoch)' : "NLL (the reference's CHH loss)";
}

function sdrCells(sdr: readonly { thresholdMm: number; percent: number }[]): string {
  return sdr.map((s) => `<td>${fmt(num(s.percent), 2)}</td>`).join('');
}

function sdrHeads(sdr: readonly { thresholdMm: number }[]): string {
  return sdr.map((s) => `<th>SDR ${fmt(num(s.thresholdMm), 1)} mm (%)</th>`).join('');
}

const STYLE = `body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1340px; padding: 0 16px; color: #222; }
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
.note { color: #555; font-size: 13px; }`;

function pageHead(title: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
${STYLE}
</style>
</head>`;
}

/** The notes, then one line on the data and the conventions of the run. */
function introSection(ev: EvaluationResult, notes: readonly string[]): string {
  return `${notes.map((n) => `<p class="note">${esc(n)}</p>`).join('\n')}
<p class="note">${ev.images.length} images of ${ev.width}x${ev.height}, ${ev.landmarks} landmarks each (${ev.summary.count} landmarks); predicted point = argmax pixel ${ev.pointConvention === 'centre' ? 'centre' : 'index'}; ERE cutoff ${fmt(ev.cutoff, 2)}; mean NLL ${fmt(ev.meanNll)}.</p>`;
}

/** MRE, SDR and ECE over every landmark, and the headline ROC and correlation numbers. */
function summarySection(s: Summary): string {
  const roc = s.roc;
  return `<h2>Summary</h2>
<table class="num" id="summary"><thead><tr><th>set</th><th>landmarks</th><th>MRE (mm)</th><th>SD (mm)</th>${sdrHeads(s.sdr)}<th>ECE (%)</th></tr></thead><tbody>
<tr><td>all</td><td>${s.count}</td><td id="mre">${fmt(num(s.mre.mean))}</td><td>${fmt(num(s.mre.std))}</td>${sdrCells(s.sdr)}<td id="ece">${fmt(100 * num(s.calibration.ece), 2)}</td></tr>
</tbody></table>
<p>ROC of ERE for erroneous landmarks (true error &gt; ${fmt(roc?.outlierThresholdMm ?? 4, 1)} mm): AUC <b id="auc">${fmt(num(roc?.auc), 3)}</b>; the first TPR &gt; 0.5 is at ERE ≥ <b id="roc-threshold">${fmt(num(roc?.proposedThreshold), 3)}</b> mm. ERE vs true error correlation (binned): <b id="correlation">${fmt(num(s.ereVsError.binnedCorrelation), 3)}</b>.</p>`;
}

/** Reliability diagrams: the test set before (comparison temperatures) and after, else after only. */
function reliabilityPlots(ev: EvaluationResult, cal: CalibrateResult | null): string[] {
  const out: string[] = [];
  const calNote = cal ? [`fine-tune set: ${fmt(100 * num(cal.eceBefore), 2)}% → ${fmt(100 * num(cal.eceAfter), 2)}%`] : [];
  if (ev.comparison) {
    out.push(reliabilityDiagramSvg('reliability-before', `Reliability, T = ${numbers(ev.comparison.temperatures).every((t) => t === 1) ? '1 (before scaling)' : 'comparison'}`, ev.comparison.calibration));
  }
  out.push(reliabilityDiagramSvg('reliability', `Reliability diagram${ev.comparison ? ' (calibrated T)' : ''}`, ev.summary.calibration, ev.comparison ? [`before: ${fmt(100 * num(ev.comparison.calibration.ece), 2)}%`] : calNote));
  return out;
}

function plotsSection(ev: EvaluationResult, cal: CalibrateResult | null): string {
  return `<h2>Plots</h2>
<div class="plots">
${reliabilityPlots(ev, cal).join('\n')}
${ereVsErrorSvg(ev)}
${rocSvg(ev)}
</div>`;
}

/** MRE and SDR of the landmarks ERE calls good and of those it calls erroneous. */
function splitSection(split: Summary['split']): string {
  const group = (name: string, g: SplitGroup) => `<tr><td>${name}</td><td>${g.count}</td><td>${fmt(num(g.mre))}</td><td>${fmt(num(g.std))}</td>${sdrCells(g.sdr)}</tr>`;
  return `<h2>Good and erroneous landmarks (split by ERE &gt; ${fmt(num(split.ereThresholdMm), 3)} mm)</h2>
<table class="num" id="split"><thead><tr><th>set</th><th>landmarks</th><th>MRE (mm)</th><th>SD (mm)</th>${sdrHeads(split.good.sdr)}</tr></thead><tbody>
${group('good (ERE ≤ threshold)', split.good)}
${group('erroneous (ERE &gt; threshold)', split.erroneous)}
</tbody></table>`;
}

function perLandmarkRows(ev: EvaluationResult, names: readonly string[]): string {
  const temps = numbers(ev.temperatures);
  const difficulty = landmarkDifficulty(ev);
  return ev.summary.perLandmark
    .map((m, l) => {
      const errs = ev.images.map((e) => num(e.radialErrorsMm[l]));
      const sdr = [2, 2.5, 3, 4].map((t) => (100 * errs.filter((v) => v < t).length) / Math.max(1, errs.length));
      const { meanEreMm, annotatorSpreadMm } = difficulty[l];
      const flagged = ev.images.filter((e) => e.flagged[l]).length;
      return `<tr><td>${l + 1}</td><td>${esc(names[l] ?? '')}</td><td>${fmt(num(m.mean))}</td><td>${fmt(num(m.std))}</td>${sdr.map((v) => `<td>${fmt(v, 1)}</td>`).join('')}<td>${fmt(meanEreMm)}</td><td>${annotatorSpreadMm === null ? '–' : fmt(annotatorSpreadMm)}</td><td>${fmt(temps[l], 3)}</td><td>${flagged}</td></tr>`;
    })
    .join('\n');
}

function perLandmarkSection(ev: EvaluationResult, names: readonly string[]): string {
  return `<h2>Per landmark</h2>
<p>Which landmarks are hard, and whether ERE knows it: each landmark's error and ERE beside how far the annotators' points lie apart (mean over pairs of annotators).</p>
<div class="plots">
${difficultySvg(ev, names)}
</div>
<table class="num" id="per-landmark"><thead><tr><th>#</th><th>landmark</th><th>MRE (mm)</th><th>SD (mm)</th><th>SDR 2 mm (%)</th><th>SDR 2.5 mm (%)</th><th>SDR 3 mm (%)</th><th>SDR 4 mm (%)</th><th>mean ERE (mm)</th><th>annotator spread (mm)</th><th>T</th><th>flagged</th></tr></thead><tbody>
${perLandmarkRows(ev, names)}
</tbody></table>`;
}

/** The temperature-scaling run: settings, ECE before and after, and one row per epoch (the best one marked). */
function temperatureSection(cal: CalibrateResult | null): string {
  if (!cal) return '';
  const eceFit = cal.settings.objective === 'ece';
  return `<h2>Temperature scaling</h2>
<p>Objective: <b id="calibration-objective">${objectiveText(cal.settings.objective)}</b>. Fitted on ${cal.fitCount} images (${cal.settings.augmented ? 'augmented' : 'not augmented'}), ECE measured on ${cal.validationCount}; Adam lr ${fmt(cal.settings.lr, 4)}, batch ${cal.settings.batchSize}, ${cal.settings.epochs} epochs; best epoch <b>${cal.bestEpoch}</b>. ECE on the fine-tune set: <b id="ece-before">${fmt(100 * num(cal.eceBefore), 2)}%</b> before, <b id="ece-after">${fmt(100 * num(cal.eceAfter), 2)}%</b> after.</p>
<table class="num"><thead><tr><th>epoch</th><th>NLL (fit)</th>${eceFit ? '<th>ECE (fit, %)</th>' : ''}<th>NLL (validation)</th><th>ECE (%)</th><th>temperatures</th></tr></thead><tbody>
${cal.history.map((h) => `<tr${h.epoch === cal.bestEpoch ? ' class="best"' : ''}><td>${h.epoch}</td><td>${fmt(num(h.nll))}</td>${eceFit ? `<td>${fmt(100 * num(h.fitEce ?? NaN), 2)}</td>` : ''}<td>${fmt(num(h.validationNll))}</td><td>${fmt(100 * num(h.ece), 2)}</td><td class="temps">${numbers(h.temperatures).map((t) => fmt(t, 3)).join(' ')}</td></tr>`).join('\n')}
</tbody></table>`;
}

/** The overlay figures with their legend; nothing when there are none. */
function overlaysSection(overlays: readonly ReportOverlay[]): string {
  const figures = overlays
    .map((o) => {
      const src = typeof o.png === 'string' ? o.png : pngDataUri(o.png);
      return `<figure><img src="${esc(src)}" alt="${esc(`heatmap overlay of ${o.id}`)}"><figcaption>${esc(o.caption ?? o.id)}</figcaption></figure>`;
    })
    .join('\n');
  if (!figures) return '';
  return `<h2>Heatmaps</h2>
<p class="legend"><span style="color:#1a9c1a">+ true point (mean of annotators)</span><span style="color:#d02020">● predicted point</span><span style="color:#b09000">□ flagged erroneous by ERE</span><span>colour: probability maps, each divided by its maximum, maximum over landmarks (inferno)</span></p>
<div class="figures">
${figures}
</div>`;
}

/** The report page. */
export function renderReport(data: ReportData): string {
  const ev = data.evaluation;
  const cal = data.calibration ?? null;
  const L = ev.landmarks;
  const names = data.landmarkNames ?? (L === ISBI_LANDMARK_NAMES.length ? ISBI_LANDMARK_NAMES : Array.from({ length: L }, (_, i) => `landmark ${i + 1}`));
  const title = data.title ?? `Contour-Hugging Heatmaps: evaluation${ev.label ? ` of ${ev.label}` : ''}`;
  return `${pageHead(title)}
<body>
<h1>${esc(title)}</h1>
${introSection(ev, data.notes ?? [])}

${summarySection(ev.summary)}

${plotsSection(ev, cal)}

${splitSection(ev.summary.split)}

${perLandmarkSection(ev, names)}
${temperatureSection(cal)}
${overlaysSection(data.overlays ?? [])}
</body>
</html>
`;
}
