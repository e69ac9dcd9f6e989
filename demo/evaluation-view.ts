// The evaluation panel: the metrics table, the report's plots (the same SVGs as the downloadable report) and the
// overlays of the test images (frames rendered in the worker), from a worker's EvaluationOutput.
import { reliabilityDiagramSvg, ereVsErrorSvg, rocSvg } from '../src/report/plots.ts';
import type { EvaluationOutput } from '../src/worker/protocol.ts';
import { drawOverlay } from './draw.ts';

export interface EvaluationSummary {
  mreMm: number;
  sdr: { thresholdMm: number; percent: number }[];
  eceBefore: number;
  eceAfter: number;
  testEceBefore: number | null;
  testEceAfter: number;
  auc: number | null;
  flagged: number;
  landmarks: number;
}

export function pct(v: number): string {
  return `${(100 * v).toFixed(2)}%`;
}

/** Draws an evaluation into the panel's elements; returns its summary (window.__chhDemo.evaluation) and a log line. */
export function showEvaluation(out: EvaluationOutput, el: { metrics: HTMLElement; plots: HTMLElement; overlays: HTMLElement }): { summary: EvaluationSummary; line: string } {
  const { evaluation: ev, calibration: cal } = out;
  const s = ev.summary;
  const flagged = ev.images.reduce((n, e) => n + e.flagged.filter(Boolean).length, 0);
  const summary: EvaluationSummary = {
    mreMm: s.mre.mean,
    sdr: s.sdr.map((d) => ({ thresholdMm: d.thresholdMm, percent: d.percent })),
    eceBefore: cal.eceBefore,
    eceAfter: cal.eceAfter,
    testEceBefore: ev.comparison ? ev.comparison.calibration.ece : null,
    testEceAfter: s.calibration.ece,
    auc: s.roc ? s.roc.auc : null,
    flagged,
    landmarks: s.count,
  };
  el.metrics.innerHTML = `
<table id="metrics-table"><thead><tr><th>${ev.label}</th><th>landmarks</th><th>MRE (mm)</th><th>SD (mm)</th>${s.sdr.map((d) => `<th>SDR ${d.thresholdMm} mm</th>`).join('')}<th>ECE T=1</th><th>ECE calibrated</th><th>ROC AUC</th><th>flagged (ERE &gt; ${s.split.ereThresholdMm.toFixed(2)} mm)</th></tr></thead>
<tbody><tr><td>all</td><td>${s.count}</td><td id="mre">${s.mre.mean.toFixed(3)}</td><td>${s.mre.std.toFixed(3)}</td>${s.sdr.map((d) => `<td>${d.percent.toFixed(1)}%</td>`).join('')}<td>${ev.comparison ? pct(ev.comparison.calibration.ece) : '–'}</td><td>${pct(s.calibration.ece)}</td><td>${s.roc ? s.roc.auc.toFixed(3) : 'n/a'}</td><td>${flagged}</td></tr></tbody></table>
<p class="hint">Temperature scaling: ${cal.fitCount} images fit, ${cal.validationCount} measure the ECE; best epoch ${cal.bestEpoch}; ECE on the fine-tune half ${pct(cal.eceBefore)} → ${pct(cal.eceAfter)}. Temperatures: ${Array.from(cal.temperatures, (t) => t.toFixed(2)).join(' ')}.</p>`;
  const plots: string[] = [];
  if (ev.comparison) plots.push(reliabilityDiagramSvg('demo-reliability-before', 'Reliability, T = 1 (before scaling)', ev.comparison.calibration));
  plots.push(reliabilityDiagramSvg('demo-reliability-after', 'Reliability, calibrated T', s.calibration, ev.comparison ? [`before: ${pct(ev.comparison.calibration.ece)}`] : []));
  plots.push(ereVsErrorSvg(ev), rocSvg(ev));
  el.plots.innerHTML = plots.join('\n');
  el.overlays.textContent = '';
  for (const o of out.overlays) {
    const fig = document.createElement('figure');
    const canvas = document.createElement('canvas');
    drawOverlay(canvas, o.frame, 300);
    const cap = document.createElement('figcaption');
    cap.textContent = `${o.id}: ${o.flagged} landmark${o.flagged === 1 ? '' : 's'} flagged erroneous by ERE (yellow squares)`;
    fig.append(canvas, cap);
    el.overlays.append(fig);
  }
  const line = `test: MRE ${s.mre.mean.toFixed(3)} mm, SDR 2 mm ${s.sdr[0]?.percent.toFixed(1)}%, ECE ${ev.comparison ? pct(ev.comparison.calibration.ece) + ' → ' : ''}${pct(s.calibration.ece)}, ${flagged} landmarks flagged`;
  return { summary, line };
}
