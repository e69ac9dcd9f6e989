// `npm run bench`: our engine against TensorFlow.js's WebGPU backend on one adapter, in one headless Chromium or
// (--runtime node) in this process on Dawn, plus native PyTorch on the CPU when /usr/bin/python3 has torch.
// Writes JSON (--out) and rewrites the benchmark section of BENCHMARKS.md. `npm run bench -- --help` lists the options (bench/args.ts).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { BENCH_USAGE, parseBenchArgs, type BenchConfig } from './args.ts';
import { buildResults, resultsMarkdown, updateMarkdown, type TorchResult } from './report.ts';
import type { OursConfig, OursResult } from './ours.ts';
import type { TfjsConfig, TfjsResult } from './tfjs-model.ts';
import { writeFileAtomic } from '../src/node/atomic.ts';
import { saveTuneChoices, tuneCachePath } from '../src/node/tune-store.ts';
import { MODEL_PRESETS } from '../src/nn/unet.ts';

const repoRoot = join(dirname(new URL(import.meta.url).pathname), '..');

function runTorch(cfg: BenchConfig): TorchResult | null {
  const py = '/usr/bin/python3';
  if (!cfg.torch || !existsSync(py)) return null;
  if (cfg.preset !== 'paper') {
    console.log(`bench: bench/torch_unet.py builds the paper's model only; no PyTorch reference for --preset ${cfg.preset}`);
    return null;
  }
  const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log('bench: /usr/bin/python3 has no torch; no PyTorch reference');
    return null;
  }
  console.log('bench: native PyTorch (CPU, 2 threads) ...');
  const r = spawnSync(py, [join(repoRoot, 'bench', 'torch_unet.py'), '--size', `${cfg.h}x${cfg.w}`, '--batch', String(cfg.batch), '--reps', String(cfg.reps), '--threads', '2'], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) {
    console.log(`bench: the PyTorch reference failed:\n${r.stderr}`);
    return null;
  }
  const line = r.stdout.trim().split('\n').pop()!;
  const t = JSON.parse(line) as TorchResult;
  console.log(`bench: PyTorch forward ${t.forward_ms.map((x) => x.toFixed(0)).join(', ')} ms, train step ${t.train_step_ms.map((x) => x.toFixed(0)).join(', ')} ms`);
  return t;
}

interface Sides {
  ours: OursResult;
  tfjs: TfjsResult | null;
  /** The browser's version, or what ran instead of one. */
  browser: string;
}

const tfjsConfig = (cfg: BenchConfig): TfjsConfig => ({ h: cfg.h, w: cfg.w, batch: cfg.batch, reps: cfg.tfjsReps, model: MODEL_PRESETS[cfg.preset] });

/** The installed `webgpu` package's version; without the package, one line naming it and exit code 2. */
function webgpuVersion(): string {
  // Resolved as Node resolves the package (also from scripts/gpu/pack.sh's bundle, whose node_modules sit elsewhere).
  let file = '';
  try {
    file = createRequire(import.meta.url).resolve('webgpu/package.json');
  } catch {
    /* not installed */
  }
  if (!file) {
    console.error('bench: --runtime node needs the npm package `webgpu` (Dawn for Node), which is not installed: npm install webgpu');
    process.exit(2);
  }
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/** With --tune: the winners into the autotune cache (under the adapter that ran them: Dawn in Node, or the browser's). */
async function saveTuned(ours: OursResult): Promise<void> {
  const path = tuneCachePath();
  if (!ours.tuned || !path) return;
  await saveTuneChoices(path, ours.adapter, ours.tuned);
  console.log(`bench: saved ${ours.tuned.length} tuned choices to ${path}`);
}

/** Both sides in this process on Dawn: ours (its engine destroyed after), then TF.js on the same GPU. */
async function runInNode(cfg: BenchConfig, oursCfg: OursConfig): Promise<Sides> {
  const version = webgpuVersion();
  const { runOurs } = await import('./ours.ts');
  const ours = await runOurs(oursCfg);
  let tfjs: TfjsResult | null = null;
  if (cfg.tfjs) {
    console.log('bench: TF.js in Node, on the same Dawn GPU ...');
    const { runTfjsNode } = await import('./tfjs-node.ts');
    tfjs = await runTfjsNode(tfjsConfig(cfg));
  }
  return { ours, tfjs, browser: `none: Node ${process.version}, Dawn (npm webgpu ${version})` };
}

/** Both sides in one headless Chromium page after the other, on its adapter. */
async function runInBrowser(cfg: BenchConfig, oursCfg: OursConfig): Promise<Sides> {
  const { openBrowser } = await import('../src/node/browser.ts');
  const session = await openBrowser();
  try {
    const browser = await session.browser.version();
    console.log(`bench: ${browser}, ${session.origin}`);
    const onLog = (line: string) => console.log(`  ${line}`);
    const ours = await session.call<OursResult>('bench/ours.ts', 'runOurs', oursCfg, onLog);
    const tfjs = cfg.tfjs ? await session.call<TfjsResult>('bench/tfjs-unet.ts', 'runTfjs', tfjsConfig(cfg), onLog) : null;
    return { ours, tfjs, browser };
  } finally {
    await session.close();
  }
}

async function main(): Promise<void> {
  let cfg: BenchConfig | null;
  try {
    cfg = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n\n${BENCH_USAGE}`);
    process.exit(2);
  }
  if (!cfg) {
    console.log(BENCH_USAGE);
    return;
  }
  const oursCfg: OursConfig = {
    runtime: cfg.runtime,
    h: cfg.h,
    w: cfg.w,
    batch: cfg.batch,
    preset: cfg.preset,
    reps: cfg.reps,
    kernelReps: cfg.kernelReps,
    kernelTargetMs: cfg.kernelTargetMs,
    kernels: cfg.kernels,
    model: cfg.model,
    soak: cfg.soak,
    tune: cfg.tune,
    precision: cfg.precision,
  };
  const date = new Date().toISOString();
  const loadStart = loadavg()[0];
  const t0 = performance.now();
  // PyTorch first, alone: it and SwiftShader compete for the same two cores.
  const torch = runTorch(cfg);
  const { ours, tfjs, browser } = cfg.runtime === 'node' ? await runInNode(cfg, oursCfg) : await runInBrowser(cfg, oursCfg);
  await saveTuned(ours);
  const cpu = cpus();
  // SwiftShader and PyTorch share these cores with everything else on the machine: the load average says how
  // much else ran (1-minute average, at the start and at the end).
  const machine =
    `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${process.platform}; ` +
    `load average ${loadStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end`;
  const results = buildResults({ config: cfg, ours, tfjs, torch, browser, date, machine });
  const out = resolve(cfg.out);
  await writeFileAtomic(out, JSON.stringify(results, null, 2) + '\n');
  const section = resultsMarkdown(results);
  if (cfg.md) {
    const md = resolve(cfg.md);
    await writeFileAtomic(md, updateMarkdown(existsSync(md) ? readFileSync(md, 'utf8') : null, section));
  }
  console.log(`\n${section}\n`);
  console.log(`bench: wrote ${out}${cfg.md ? ` and ${cfg.md}` : ''} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

await main();
