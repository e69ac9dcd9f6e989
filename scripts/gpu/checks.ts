// The GPU checks of the conv kernels and the autotuner, in one program (scripts/gpu/run.sh runs it on a GPU
// machine; it runs anywhere, slowly on SwiftShader: `npx tsx scripts/gpu/checks.ts OUTDIR --sizes 64x64x1`):
//  1. correctness: every workgroup-memory tile the adapter can run (and the GPU default) against the f64 CPU
//     reference, forward, dgrad and wgrad with bias, on the conv tests' odd shapes and one of 64 channels;
//  2. per size (HxWxBATCH): the model's forward and training step with the register tiles forced, with the
//     adapter's defaults, then tuned (the tuning's wall time; the winners saved to the autotune cache, which the
//     benchmark run after this reads), and the tuned step's convolutions in TFLOP/s;
//  0. tensor cores (issue 13): the subgroup-matrix tiles the adapter runs natively and the half tiles (shader-f16),
//     against the reference, loss scaling's f16 range flag on one of each, a tiny UNet trained at f16 on it
//     against an f32 tile, and the _f16x twins (reading x as f16 pairs: a consumed conv's forward, the weight
//     gradient under f16 storage) of those tiles and the GPU default against the plain kernels on rounded x;
//  3. memory (issue 13): the adapter's features and subgroup-matrix configurations (with Dawn's unsafe APIs on),
//     and a training step at each size under every memory policy (bench/memory.ts: f32/f16 storage, recompute or
//     not): peak live bytes, the persistent part, the layers holding the peak, and the step's time.
// Results go to OUTDIR/checks.json, rewritten after every stage, so a run cut short keeps what it finished.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Engine } from '../../src/engine/engine.ts';
import { createNodeEngine } from '../../src/node/gpu.ts';
import { writeFileAtomic } from '../../src/node/atomic.ts';
import { saveTuneChoices, tuneCachePath } from '../../src/node/tune-store.ts';
import { backward, mul, sum } from '../../src/index.ts';
import { conv2d } from '../../src/ops/conv2d/conv2d.ts';
import { f16RangeFlag } from '../../src/ops/f16-range.ts';
import { memoryPolicy, packF16, unpackF16 } from '../../src/ops/saved.ts';
import { sharedTileProblem } from '../../src/ops/conv2d/plan.ts';
import { candidateKernels, type TuneChoice } from '../../src/ops/conv2d/autotune.ts';
import { conv2dTuning, DEFAULT_TILES, GPU_DEFAULT_TILE, isSharedTile, type SharedTile } from '../../src/ops/conv2d/tuning.ts';
import { MODEL_PRESETS, ResnetUnet, RESNET34_UNET } from '../../src/nn/unet.ts';
import { train, type CheckpointStore } from '../../src/chh/train.ts';
import { loadSyntheticSplit } from '../../src/data/synthetic/dataset.ts';
import { modelConvShapes, tuneModel } from '../../src/chh/tune.ts';
import { EDGE_CONFIGS, cfg, convGradRef, convRef, makeData, outSize, type Config } from '../../test/helpers/conv-reference.ts';
import { timeModel, type ModelTiming } from '../../bench/model-timing.ts';
import { gemmGflop } from '../../bench/ours-kernels.ts';
import { measurePolicies } from '../../bench/policy-memory.ts';
import { nodeGpu } from '../../src/node/gpu.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { sizes: { type: 'string', default: '800x640x4,160x128x1' }, reps: { type: 'string', default: '5' } } });
const outDir = positionals[0] ?? '.';
const sizes = values.sizes!.split(',').map((s) => s.split('x').map(Number) as [number, number, number]);
const reps = Number(values.reps);
const report: Record<string, unknown> = { date: new Date().toISOString() };
const save = () => writeFileAtomic(join(outDir, 'checks.json'), JSON.stringify(report, null, 1));

const CONFIGS: Config[] = [
  ...EDGE_CONFIGS,
  cfg('64 -> 64 3x3 s1 p1 at 24x20', 2, 64, 24, 20, 64, 3, 1, 1, true),
  cfg('64 -> 128 3x3 s2 p1 at 24x20', 1, 64, 24, 20, 128, 3, 2, 1, true),
];

/** The largest |gpu - ref| / (1 + |ref|). */
function worst(gpu: ArrayLike<number>, ref: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(gpu[i] - ref[i]) / (1 + Math.abs(ref[i])));
  return gpu.length === ref.length ? m : Infinity;
}

/** Forward, dgrad and wgrad of one config on one tile: the worst relative error of each output. */
async function checkTile(e: Engine, c: Config, tile: SharedTile): Promise<Record<string, number>> {
  const t = conv2dTuning(e);
  Object.assign(t, { forward: tile, dgrad: tile, wgrad: tile });
  const d = makeData(c, 900);
  const [Ho, Wo] = outSize(c);
  const x = e.tensor(d.x, [c.N, c.C, c.H, c.W], { requiresGrad: true });
  const w = e.tensor(d.w, [c.Co, c.C, c.kh, c.kw], { requiresGrad: true });
  const b = e.tensor(d.b!, [c.Co], { requiresGrad: true });
  try {
    const y = e.scope(() => {
      const out = conv2d(x, w, b, { stride: c.stride, padding: c.padding });
      backward(sum(mul(out, e.tensor(d.r, [c.N, c.Co, Ho, Wo]))));
      return out;
    });
    const ref = convGradRef(c, d.x, d.w, d.r);
    const errors = { y: worst(await y.read(), convRef(c, d.x, d.w, d.b)), dx: worst(await x.grad!.read(), ref.dx), dw: worst(await w.grad!.read(), ref.dw), db: worst(await b.grad!.read(), ref.db) };
    y.dispose();
    return errors;
  } finally {
    for (const v of [x, w, b, x.grad, w.grad, b.grad]) v?.dispose();
    Object.assign(t, { forward: null, dgrad: null, wgrad: null });
  }
}

async function correctness(e: Engine): Promise<void> {
  const tiles = [GPU_DEFAULT_TILE, ...candidateKernels(e, 'forward', { N: 4, C: 64, H: 200, W: 160, Co: 64, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, Ho: 200, Wo: 160 }).filter(isSharedTile)];
  const results: { tile: SharedTile; config: string; errors: Record<string, number>; ok: boolean }[] = [];
  for (const tile of tiles.filter((t, i) => tiles.findIndex((u) => JSON.stringify(u) === JSON.stringify(t)) === i)) {
    for (const c of CONFIGS) {
      const errors = await checkTile(e, c, tile);
      results.push({ tile, config: c.name, errors, ok: Object.values(errors).every((v) => v <= 1e-4) });
    }
  }
  const failed = results.filter((r) => !r.ok);
  report.correctness = { tiles: tiles.length, cases: results.length, failed: failed.length, worst: Math.max(...results.flatMap((r) => Object.values(r.errors))), failures: failed };
  console.log(`correctness: ${results.length - failed.length}/${results.length} cases within 1e-4 (${tiles.length} tiles)`);
}

/** The training step's conv time and TFLOP/s with the tuned and the default kernels (shapes counted as often as used). */
function stepConvs(e: Engine, h: number, w: number, n: number, choices: readonly TuneChoice[]): Record<string, number> {
  const model = new ResnetUnet(RESNET34_UNET);
  const state = model.allocate(e, 0);
  const shapes = modelConvShapes(e, model, state, { width: w, height: h, train: [n] });
  state.dispose();
  const byKey = new Map(choices.map((c) => [c.key, c]));
  let f = 0;
  let tuned = 0;
  let dflt = 0;
  for (const s of shapes) {
    const c = byKey.get(s.key)!;
    f += s.count * gemmGflop(s.geometry) * 1e9;
    tuned += s.count * c.ms;
    dflt += s.count * c.defaultMs;
  }
  return { gemms: shapes.reduce((t, s) => t + s.count, 0), tflop: f / 1e12, tuned_ms: tuned, default_ms: dflt, tuned_tflops: f / tuned / 1e9, default_tflops: f / dflt / 1e9 };
}

async function sizeStage(e: Engine, [h, w, n]: [number, number, number]): Promise<void> {
  const t = conv2dTuning(e);
  const entry: Record<string, unknown> = {};
  (report.sizes as Record<string, unknown>)[`${h}x${w}x${n}`] = entry;
  const timed = async (name: string): Promise<ModelTiming> => {
    const r = await timeModel(e, h, w, n, reps);
    entry[name] = r;
    console.log(`${h}x${w} b${n} ${name}: forward ${r.forward_ms.median.toFixed(1)} ms, step ${r.train_step_ms.median.toFixed(1)} ms`);
    await save();
    return r;
  };
  t.tuned.clear();
  Object.assign(t, { forward: DEFAULT_TILES.forward, dgrad: DEFAULT_TILES.dgrad, wgrad: DEFAULT_TILES.wgrad });
  await timed('register_tiles');
  Object.assign(t, { forward: null, dgrad: null, wgrad: null });
  await timed('defaults');
  const model = new ResnetUnet(RESNET34_UNET);
  const state = model.allocate(e, 0);
  const t0 = performance.now();
  const { choices, check } = await tuneModel(e, model, state, { width: w, height: h, train: [n], infer: [1] });
  entry.model_check = check;
  entry.tune_seconds = (performance.now() - t0) / 1000;
  state.dispose();
  const path = tuneCachePath();
  if (path) await saveTuneChoices(path, e.adapter, choices);
  entry.choices = choices.map(({ timings: _, ...c }) => c);
  entry.step_convs = stepConvs(e, h, w, n, choices);
  console.log(`${h}x${w} b${n}: tuned ${choices.length} shapes in ${(entry.tune_seconds as number).toFixed(1)} s; step convs ${JSON.stringify(entry.step_convs)}`);
  await timed('tuned');
}

/** What the adapter offers for f16 and tensor cores, seen with Dawn's unsafe APIs allowed (as the experimental feature needs). */
async function adapterFeatures(): Promise<void> {
  const adapter = await (await nodeGpu({ dawnFlags: ['enable-dawn-features=allow_unsafe_apis'] })).requestAdapter();
  const info = adapter?.info as (GPUAdapterInfo & { subgroupMatrixConfigs?: unknown }) | undefined;
  report.unsafe_adapter = { features: adapter ? [...adapter.features] : null, subgroupMatrixConfigs: info?.subgroupMatrixConfigs ?? null };
  console.log(`adapter features (unsafe APIs allowed): ${JSON.stringify(report.unsafe_adapter)}`);
}

/**
 * Tensor cores (issue 13): every subgroup-matrix tile the adapter runs natively, against the f64 reference (forward,
 * dgrad, wgrad; operands rounded to f16, so within 5e-3), on an engine of its own with Dawn's unsafe APIs allowed
 * (the experimental feature needs them; a pipeline Dawn rejects fails that engine only).
 */
async function tensorCores(): Promise<void> {
  const e = await createNodeEngine({ tuneCache: null, dawnFlags: ['enable-dawn-features=allow_unsafe_apis'] });
  const out: Record<string, unknown> = { features: [...e.features], configs: e.adapter.subgroupMatrixConfigs ?? [], subgroupSizes: [e.adapter.subgroupMinSize, e.adapter.subgroupMaxSize] };
  report.tensor_cores = out;
  try {
    const g = { N: 4, C: 64, H: 200, W: 160, Co: 64, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, Ho: 200, Wo: 160 };
    // The tiles that round operands to f16: subgroup matrices, and half tiles (shader-f16, f32 arithmetic).
    const all = candidateKernels(e, 'forward', g, new Set(['forward'])).filter((k): k is SharedTile => isSharedTile(k) && (k.matrix !== undefined || k.half === true));
    const tiles = all.filter((t) => t.matrix !== undefined);
    const halves = all.filter((t) => t.half);
    if (tiles.length === 0) out.skipped = sharedTileProblem(e, { bm: 64, bn: 64, bk: 32, rm: 2, rn: 2, matrix: 16 });
    const results: { tile: SharedTile; config: string; errors: Record<string, number> | string }[] = [];
    out.results = results;
    // Every matrix tile, and two half tiles (their code is the f32 tile's but for the blocks' type).
    for (const tile of [...tiles, ...halves.slice(0, 2)]) {
      for (const c of CONFIGS) {
        results.push({ tile, config: c.name, errors: await checkTile(e, c, tile).catch((err: Error) => err.message) });
        await save();
      }
    }
    const ok = results.filter((r) => typeof r.errors !== 'string' && Object.values(r.errors).every((v) => v <= 5e-3));
    out.passed = ok.length;
    if (tiles.length) {
      out.overflow_flag = await overflowFlag(e, tiles[0]);
      await save();
      out.training = await trainOnTiles(e, tiles[0]);
    }
    if (halves.length) {
      out.half_overflow_flag = await overflowFlag(e, halves[0]);
      await save();
      out.half_training = await trainOnTiles(e, halves[0]);
    }
    out.pairs = await pairsTwins(e, [GPU_DEFAULT_TILE, ...tiles.slice(0, 1), ...halves.slice(0, 1)]);
    console.log(`tensor cores: ${tiles.length} tiles, half tiles: ${halves.length}; ${ok.length}/${results.length} cases within 5e-3${tiles.length ? '' : ` (${String(out.skipped)})`}`);
  } catch (err) {
    out.error = (err as Error).stack ?? String(err);
  } finally {
    e.destroy();
    await save();
  }
}

/**
 * The _f16x twins on the GPU's driver: conv2d consuming x under f16 storage (the forward reads the pairs saved for
 * backward, and so does the weight gradient) against the plain kernels on x rounded by the same pack: the largest
 * |difference| of y and dw per tile, expected 0 (the same arithmetic on the same values).
 */
async function pairsTwins(e: Engine, tiles: readonly SharedTile[]): Promise<{ tile: SharedTile; y: number; dw: number }[] | string> {
  const c = cfg('16 -> 24 3x3 s1 p1 at 19x17', 2, 16, 19, 17, 24, 3, 1, 1);
  const d = makeData(c, 3);
  const [Ho, Wo] = outSize(c);
  const policy = memoryPolicy(e);
  const before = { ...policy };
  const run = async (x: Float32Array, consume: boolean): Promise<Float32Array[]> => {
    const xt = e.tensor(x, [c.N, c.C, c.H, c.W], { requiresGrad: true });
    const w = e.tensor(d.w, [c.Co, c.C, 3, 3], { requiresGrad: true });
    const y = e.scope(() => {
      const out = conv2d(xt, w, null, { padding: 1, consume });
      backward(sum(mul(out, e.tensor(d.r, [c.N, c.Co, Ho, Wo]))));
      return out;
    });
    const values = (await Promise.all([y.read(), w.grad!.read()])) as Float32Array[];
    for (const t of [xt, w, y, w.grad!]) t.dispose();
    return values;
  };
  try {
    Object.assign(policy, { storage: 'f16', recompute: false });
    const raw = e.tensor(d.x, [d.x.length]);
    const words = packF16(raw);
    const rounded = unpackF16(words, [d.x.length], 'rounded');
    const x16 = (await rounded.read()) as Float32Array;
    for (const t of [raw, words, rounded]) t.dispose();
    const results: { tile: SharedTile; y: number; dw: number }[] = [];
    for (const tile of tiles) {
      Object.assign(conv2dTuning(e), { forward: tile, wgrad: tile });
      const [y0, dw0] = await run(x16, false);
      const [y1, dw1] = await run(d.x, true);
      const gap = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
      results.push({ tile, y: gap(y0, y1), dw: gap(dw0, dw1) });
    }
    return results;
  } catch (err) {
    return (err as Error).message;
  } finally {
    Object.assign(policy, before);
    Object.assign(conv2dTuning(e), { forward: null, wgrad: null });
  }
}

/** Loss scaling's f16 range flag on a native tile: clear after in-range operands, set after one of 70000 (expected 0, 1). */
async function overflowFlag(e: Engine, tile: SharedTile): Promise<{ in_range: number; beyond: number }> {
  const t = conv2dTuning(e);
  Object.assign(t, { forward: tile });
  const w = e.tensor(Array.from({ length: 16 * 16 * 9 }, (_, i) => ((i % 7) - 3) / 8), [16, 16, 3, 3]);
  const flagAfter = async (big: number): Promise<number> => {
    e.clear(f16RangeFlag(e));
    const x = e.tensor(Array.from({ length: 16 * 64 }, (_, i) => (i === 100 ? big : i / 1000)), [1, 16, 8, 8]);
    e.noGrad(() => conv2d(x, w, null, { padding: 1 })).dispose();
    x.dispose();
    return (await f16RangeFlag(e).read())[0];
  };
  try {
    return { in_range: await flagAfter(1), beyond: await flagAfter(70000) };
  } finally {
    w.dispose();
    Object.assign(t, { forward: null });
  }
}

/**
 * Training on tensor cores: a tiny UNet at precision f16 (loss scaling) with every conv GEMM on this tile, then on
 * an f32 tile, from the same weights (as test/chh/train-f16.test.ts does on the emulation): each epoch's loss, scale
 * and skipped steps; expected within about 1% of the f32 tile's, nothing skipped.
 */
async function trainOnTiles(e: Engine, tile: SharedTile): Promise<Record<string, unknown>> {
  const samples = await loadSyntheticSplit('train', { counts: { train: 8 }, width: 193, landmarks: 4, seed: 5 }, { width: 64, height: 64 });
  const store: CheckpointStore = { save: async () => {}, load: async () => null };
  const options = { epochs: 4, batch: 4, lr: 1e-2, optimizer: 'adam', milestones: [], gamma: 0.1, seed: 7, augment: null, precision: 'f16' } as const;
  const run = async (t: SharedTile) => {
    Object.assign(conv2dTuning(e), { forward: t, dgrad: t, wgrad: t });
    const model = new ResnetUnet({ ...MODEL_PRESETS.tiny, landmarks: 4 });
    const state = model.allocate(e, 2);
    try {
      return (await train({ engine: e, model, state, samples, store, resume: false, options })).epochs.map((x) => ({ loss: x.meanLoss, scale: x.lossScale, skipped: x.skippedSteps }));
    } finally {
      state.dispose();
      Object.assign(conv2dTuning(e), { forward: null, dgrad: null, wgrad: null });
    }
  };
  return { tile, tensor_cores: await run(tile), f32_tile: await run({ bm: 64, bn: 64, bk: 16, rm: 4, rn: 4 }) };
}

async function memoryStage(e: Engine): Promise<void> {
  const memory: Record<string, unknown> = {};
  report.memory = memory;
  for (const [h, w, n] of sizes) {
    memory[`${h}x${w}x${n}`] = await measurePolicies(e, 'paper', h, w, n, reps);
    await save();
  }
}

const engine = await createNodeEngine({ tuneCache: null });
report.adapter = engine.adapter;
report.features = [...engine.features];
report.limits = { workgroupStorage: engine.limits.maxComputeWorkgroupStorageSize, invocations: engine.limits.maxComputeInvocationsPerWorkgroup };
report.sizes = {};
await save();
try {
  await tensorCores();
  await correctness(engine);
  await save();
  for (const size of sizes) await sizeStage(engine, size);
  await adapterFeatures();
  await memoryStage(engine);
} catch (e) {
  report.error = (e as Error).stack ?? String(e);
  console.error(e);
  process.exitCode = 1;
} finally {
  await save();
  engine.destroy();
}
