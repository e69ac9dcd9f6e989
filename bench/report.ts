// Turns the raw measurements of one bench run into the results JSON and the BENCHMARKS.md table. Pure functions
// (no GPU, no files) so the unit test can check them on a fixed input.
import type { OurCase, OursResult } from './ours.ts';
import type { TfjsResult } from './tfjs-unet.ts';
import type { BenchConfig } from './args.ts';
import { sizeTag } from './args.ts';

export interface TorchResult {
  torch: string;
  threads: number;
  forward_ms: number[];
  train_step_ms: number[];
  parameters: number;
}

export interface CaseRow {
  name: string;
  kind: 'model' | 'kernel';
  ours_ms: number;
  ours_min_ms: number;
  ours_max_ms: number;
  runs: number;
  per_sync?: number;
  /** Kernel cases timed by GPU timestamps: wall clock per dispatch around engine.sync() (submit and wait included). */
  wall_ms?: number;
  gflops?: number;
  /** Conv cases: the same rate in TFLOP/s (4 significant digits), and its fraction of --peak-tflops when given. */
  tflops?: number;
  peak_fraction?: number;
  /** Conv cases: the kernel the engine ran (plan.ts's choice, as describePlan names it; wgrad with its split of K). */
  variant?: string;
  /** Model cases: the conv GFLOP of the pass or step (all its conv GEMMs) over its time, in TFLOP/s; with
   * --peak-tflops, its fraction of the peak. */
  conv_tflops?: number;
  conv_peak_fraction?: number;
  gbps?: number;
  per_step?: number;
  tfjs_ms?: number;
  tfjs_runs?: number;
  /** tfjs_ms / ours_ms: above 1, ours is faster. */
  speedup?: number;
  torch_ms?: number;
  /** ours_ms / torch_ms: how many times native PyTorch on the CPU is faster. */
  torch_ratio?: number;
  note?: string;
}

export interface BenchResults {
  adapter: OursResult['adapter'] & { features: string[] };
  browser: string;
  runtime: 'browser' | 'node';
  date: string;
  command: string;
  config: Omit<BenchConfig, 'command' | 'out' | 'md'>;
  timing: string;
  parameters: number;
  cases: CaseRow[];
  memory: {
    ours_peak_bytes: number | null;
    /** Live before our step: parameters, gradients, Adam's state, the batch; the rest of the peak is the step's own. */
    ours_persistent_bytes: number | null;
    /** Who held our peak: layers (what their forward kept and their backward made), persistent buffers by label. */
    ours_peak_holders: { owner: string; bytes: number }[] | null;
    /** The allocation that reached our peak (which op, in which layer). */
    ours_peak_at: { label: string; bytes: number } | null;
    tfjs_peak_bytes: number | null;
    ours_peak_allocated_bytes: number | null;
    tfjs_gpu_allocated_bytes: number | null;
  };
  soak: OursResult['soak'];
  tfjs: Omit<TfjsResult, 'forward_ms' | 'train_step_ms'> | null;
  torch: TorchResult | null;
  /** Estimated share of the training step per kernel case (conv cases: time x occurrences per step). */
  profile: { name: string; est_ms_per_step: number }[];
  machine: string;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
/** x to `digits` significant digits (TFLOP/s on SwiftShader are thousandths, on a GPU tens). */
const sig = (x: number, digits = 4) => Number(x.toPrecision(digits));

/** The JSON row of one of our cases, without the anchors' columns. */
function oursRow(c: OurCase, peakTflops: number | null): CaseRow {
  const row: CaseRow = { name: c.name, kind: c.kind, ours_ms: round(c.ms.median), ours_min_ms: round(c.ms.min), ours_max_ms: round(c.ms.max), runs: c.ms.runs };
  if (c.perSync !== undefined) row.per_sync = c.perSync;
  if (c.wallMs !== undefined) row.wall_ms = round(c.wallMs);
  if (c.gflop !== undefined) {
    const gflops = c.gflop / (c.ms.median / 1000);
    row.gflops = round(gflops);
    row.tflops = sig(gflops / 1000);
    if (peakTflops !== null) row.peak_fraction = sig(gflops / 1000 / peakTflops, 3);
  }
  if (c.variant !== undefined) row.variant = c.variant;
  if (c.convGflop !== undefined) {
    const convTflops = c.convGflop / (c.ms.median / 1000) / 1000;
    row.conv_tflops = sig(convTflops);
    if (peakTflops !== null) row.conv_peak_fraction = sig(convTflops / peakTflops, 3);
  }
  if (c.gbytes !== undefined) row.gbps = round(c.gbytes / (c.ms.median / 1000));
  if (c.perStep !== undefined) row.per_step = c.perStep;
  return row;
}

export function buildResults(input: {
  config: BenchConfig;
  ours: OursResult;
  tfjs: TfjsResult | null;
  torch: TorchResult | null;
  browser: string;
  date: string;
  machine: string;
}): BenchResults {
  const { config, ours, tfjs, torch } = input;
  const tag = sizeTag(config);
  const anchor: Record<string, number[] | undefined> = {
    [`unet.forward.${tag}`]: tfjs?.forward_ms,
    [`unet.train_step.${tag}`]: tfjs?.train_step_ms,
  };
  const torchTimes: Record<string, number[] | undefined> = {
    [`unet.forward.${tag}`]: torch?.forward_ms,
    [`unet.train_step.${tag}`]: torch?.train_step_ms,
  };
  const cases = ours.cases.map((c: OurCase): CaseRow => {
    const row = oursRow(c, config.peakTflops);
    const a = anchor[c.name];
    if (a && a.length) {
      row.tfjs_ms = round(median(a));
      row.tfjs_runs = a.length;
      row.speedup = round(row.tfjs_ms / row.ours_ms);
    }
    const t = torchTimes[c.name];
    if (t && t.length) {
      row.torch_ms = round(median(t));
      row.torch_ratio = round(row.ours_ms / row.torch_ms);
    }
    if (c.note) row.note = c.note;
    return row;
  });
  const profile = ours.cases
    .filter((c) => c.kind === 'kernel')
    .map((c) => ({ name: c.name, est_ms_per_step: round(c.ms.median * (c.perStep ?? 1), 1) }))
    .sort((a, b) => b.est_ms_per_step - a.est_ms_per_step);
  const { command: _c, out: _o, md: _m, ...cfg } = config;
  let tfjsRest: BenchResults['tfjs'] = null;
  if (tfjs) {
    const { forward_ms: _f, train_step_ms: _t, ...rest } = tfjs;
    tfjsRest = rest;
  }
  return {
    adapter: { ...ours.adapter, features: ours.features },
    browser: input.browser,
    runtime: config.runtime,
    date: input.date,
    command: config.command,
    config: cfg,
    timing: ours.timing,
    parameters: ours.parameters,
    cases,
    memory: {
      ours_peak_bytes: ours.memory?.peakLiveBytes ?? null,
      ours_persistent_bytes: ours.memory?.liveBytesBeforeStep ?? null,
      ours_peak_holders: ours.memory?.holders ?? null,
      ours_peak_at: ours.memory?.peakAt ? { label: ours.memory.peakAt.label, bytes: ours.memory.peakAt.bytes } : null,
      tfjs_peak_bytes: tfjs?.peak_bytes ?? null,
      ours_peak_allocated_bytes: ours.memory?.peakAllocatedBytes ?? null,
      tfjs_gpu_allocated_bytes: tfjs?.gpu_allocated_bytes ?? null,
    },
    soak: ours.soak,
    tfjs: tfjsRest,
    torch,
    profile,
    machine: input.machine,
  };
}

const ms = (x: number | undefined): string => (x === undefined ? '' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const mib = (b: number | null): string => (b === null ? 'n/a' : `${(b / 2 ** 20).toFixed(1)} MiB`);

export const MD_START = '<!-- bench:start (written by `npm run bench`; edits inside are overwritten) -->';
export const MD_END = '<!-- bench:end -->';

/** Which TF.js ran where: its version, backend, runtime and the adapter it reports. */
function tfjsWhere(t: NonNullable<BenchResults['tfjs']>): string {
  const where = t.runtime === 'node' ? 'in the same Node process, on the same Dawn GPU (bench/tfjs-node.ts)' : 'in the same page';
  const adapter = t.adapter ? `, adapter ${t.adapter.vendor || '?'} / ${t.adapter.architecture || '?'}` : '';
  return `${t.version}, ${t.backend} backend, ${where}${adapter}`;
}

/** The markdown section for one result set: the command, the environment, the model table, memory, kernels. */
export function resultsMarkdown(r: BenchResults): string {
  const lines: string[] = [];
  lines.push('```sh', r.command, '```', '');
  const a = r.adapter;
  lines.push(
    `- Date: ${r.date}`,
    `- Adapter: ${a.vendor || '?'} / ${a.architecture || '?'}${a.description ? ` (${a.description})` : ''}${a.isFallbackAdapter ? ', fallback adapter' : ''}; ` +
      `runtime ${r.runtime}; features: ${a.features.join(', ') || 'none'}`,
    `- Browser: ${r.browser}`,
    `- Machine: ${r.machine}`,
    `- Model: ${r.config.preset === 'paper' ? 'ResNet34-UNet' : `UNet preset ${r.config.preset} (src/nn/unet.ts)`}, ${r.parameters.toLocaleString('en-US')} parameters, input ${r.config.h}x${r.config.w} (HxW), batch ${r.config.batch}`,
    `- Timing: ${r.timing}`,
  );
  if (r.tfjs) lines.push(`- TF.js: ${tfjsWhere(r.tfjs)}`);
  lines.push('');
  const model = modelTable(r);
  if (model.length) lines.push(...model, '');
  lines.push(
    `Peak memory over a training step: ours ${mib(r.memory.ours_peak_bytes)} (engine.memory().peakLiveBytes: live buffers, by size class), ` +
      `TF.js ${mib(r.memory.tfjs_peak_bytes)} (tf.profile peakBytes: live tensors); allocated GPU memory: ours ${mib(r.memory.ours_peak_allocated_bytes)} ` +
      `(peak, pool included), TF.js ${mib(r.memory.tfjs_gpu_allocated_bytes)} (after the run, its pool included). Both include parameters, gradients and Adam state ` +
      `(ours: ${mib(r.memory.ours_persistent_bytes)}, precision ${r.config.precision}).`,
  );
  if (r.memory.ours_peak_holders?.length) {
    const at = r.memory.ours_peak_at ? ` (reached allocating ${r.memory.ours_peak_at.label}, ${mib(r.memory.ours_peak_at.bytes)})` : '';
    lines.push('', `Held at our step's peak${at}: ${r.memory.ours_peak_holders.map((h) => `${h.owner} ${mib(h.bytes)}`).join(', ')}.`);
  }
  if (r.torch) lines.push('', `PyTorch reference: torch ${r.torch.torch}, CPU, ${r.torch.threads} threads, same model and loss (scripts/fixtures/unet.py's modules).`);
  if (r.soak) {
    const s = r.soak;
    lines.push('', `Soak: ${s.steps} training step${s.steps === 1 ? '' : 's'} in ${(s.ms / 1000).toFixed(1)} s; live GPU bytes ${s.liveBytesStart} at the start, ${s.liveBytesEnd} at the end, between ${s.liveBytesMin} and ${s.liveBytesMax} over ${s.samples} samples (one every 10 steps); GPU buffers created ${s.createdBuffersStart} -> ${s.createdBuffersEnd}.`);
  }
  const kernels = kernelTable(r);
  if (kernels.length) lines.push('', ...kernels);
  return lines.join('\n');
}

/** A flop rate as the tables show it: GFLOP/s, or TFLOP/s from 1000 GFLOP/s on. */
function flopRate(tflops: number): string {
  return tflops >= 1 ? `${tflops.toPrecision(3)} TFLOP/s` : `${(tflops * 1000).toFixed(2)} GFLOP/s`;
}

/**
 * The model cases' table: ours, TF.js and PyTorch side by side, and the rate of the convs of our pass or step
 * (their FLOPs over the whole time: what the rest of the model costs lowers it); its fraction of --peak-tflops when
 * given.
 */
function modelTable(r: BenchResults): string[] {
  const model = r.cases.filter((c) => c.kind === 'model');
  if (!model.length) return [];
  const peak = r.config.peakTflops;
  const lines = [
    `| case | ours ms (median) | min-max | runs | TF.js WebGPU ms | speedup vs TF.js | PyTorch CPU ms | ours / PyTorch | ours conv rate |${peak !== null ? ` of ${peak} TFLOP/s |` : ''}`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|${peak !== null ? '---:|' : ''}`,
  ];
  for (const c of model) {
    const cells = [
      c.name,
      ms(c.ours_ms),
      `${ms(c.ours_min_ms)}-${ms(c.ours_max_ms)}`,
      String(c.runs),
      c.tfjs_ms !== undefined ? `${ms(c.tfjs_ms)} (${c.tfjs_runs} run${c.tfjs_runs === 1 ? '' : 's'})` : 'n/a',
      c.speedup !== undefined ? `${c.speedup.toFixed(2)}x` : 'n/a',
      c.torch_ms !== undefined ? ms(c.torch_ms) : 'n/a',
      c.torch_ratio !== undefined ? `${c.torch_ratio.toFixed(1)}x slower` : 'n/a',
      c.conv_tflops !== undefined ? flopRate(c.conv_tflops) : '',
    ];
    if (peak !== null) cells.push(c.conv_peak_fraction !== undefined ? `${(c.conv_peak_fraction * 100).toPrecision(3)}%` : '');
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

/**
 * The kernel cases' table: time, rate, dispatches per sync, occurrences per training step and their product; the
 * fraction of the peak with --peak-tflops, the wall clock where GPU timestamps timed the cases, the conv kernel
 * the engine chose where the cases name one.
 */
function kernelTable(r: BenchResults): string[] {
  const kernels = r.cases.filter((c) => c.kind === 'kernel');
  if (!kernels.length) return [];
  const peak = r.config.peakTflops;
  const wall = kernels.some((c) => c.wall_ms !== undefined);
  const variant = kernels.some((c) => c.variant !== undefined);
  const cols = [
    ['kernel case', '---'],
    ['ms (median)', '---:'],
    ['min-max', '---:'],
    ['rate', '---:'],
    ...(peak !== null ? [[`of ${peak} TFLOP/s`, '---:']] : []),
    ['per sync', '---:'],
    ['per step', '---:'],
    ['est. ms per step', '---:'],
    ...(wall ? [['wall ms', '---:']] : []),
    ...(variant ? [['kernel (plan.ts)', '---']] : []),
  ];
  const lines = [`| ${cols.map((c) => c[0]).join(' | ')} |`, `|${cols.map((c) => c[1]).join('|')}|`];
  for (const c of kernels) {
    const rate = c.tflops !== undefined ? flopRate(c.tflops) : c.gbps !== undefined ? `${c.gbps.toFixed(2)} GB/s` : '';
    const per = c.per_step ?? 1;
    const cells = [c.name, ms(c.ours_ms), `${ms(c.ours_min_ms)}-${ms(c.ours_max_ms)}`, rate];
    if (peak !== null) cells.push(c.peak_fraction !== undefined ? `${(c.peak_fraction * 100).toPrecision(3)}%` : '');
    cells.push(String(c.per_sync ?? ''), String(per), ms(c.ours_ms * per));
    if (wall) cells.push(c.wall_ms !== undefined ? ms(c.wall_ms) : '');
    if (variant) cells.push(c.variant !== undefined ? `\`${c.variant}\`` : '');
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

/** Replaces the section between the markers (or appends one) in an existing BENCHMARKS.md. */
export function updateMarkdown(existing: string | null, section: string): string {
  const block = `${MD_START}\n${section}\n${MD_END}`;
  if (!existing) {
    return `# Benchmarks\n\nMade by \`npm run bench\` (bench/run.ts); the JSON it wrote is in bench/results/.\n\n${block}\n`;
  }
  const i = existing.indexOf(MD_START);
  const j = existing.indexOf(MD_END);
  if (i >= 0 && j > i) return existing.slice(0, i) + block + existing.slice(j + MD_END.length);
  return `${existing.replace(/\s*$/, '')}\n\n${block}\n`;
}
