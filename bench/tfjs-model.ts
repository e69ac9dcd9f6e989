// The benchmark's anchor: the same ResNet34-UNet written in TensorFlow.js (4.22) on its WebGPU backend, on the
// same adapter as our engine: in the page (bench/tfjs-unet.ts loads TF.js there) or in Node (bench/tfjs-node.ts,
// on Dawn). This file is the model, the loss, the optimizer and the clocks, on whichever `tf` it is given: no DOM,
// no Node built-in. Architecture as src/nn/unet.ts and smp.Unet: ResNet34 encoder (7x7/2 stem, BN, ReLU, 3x3/2 max
// pool, BasicBlocks 3,4,6,3 with 1x1/2 projection shortcuts), decoder blocks 256,128,64,32,32 (nearest 2x
// upsampling, concatenation with the skip, two conv3x3+BN+ReLU), a 3x3 head with bias, 1 input channel, 19
// outputs. Batch statistics in BN (training mode; running statistics are not updated, a handful of tiny ops per
// layer). Loss: softmax over each map's H*W pixels (temperature 1) and the NLL of a one-hot target, mean over
// maps. Adam (lr 1e-3). Layout NHWC, TF.js's native one.
import type { UnetConfig } from '../src/nn/unet.ts';
import { RESNET34_UNET } from '../src/nn/unet.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TF = any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type T = any;

export interface TfjsConfig {
  h: number;
  w: number;
  batch: number;
  reps: number;
  /** The architecture; default the paper's ResNet34-UNet, which the benchmark always runs (tests pass a smaller one). */
  model?: UnetConfig;
}

export interface TfjsResult {
  version: string;
  backend: string;
  adapter: { vendor?: string; architecture?: string } | null;
  forward_ms: number[];
  train_step_ms: number[];
  forward_warmup_ms: number;
  train_step_warmup_ms: number;
  /** tf.profile's peakBytes over one training step (bytes of live tensors, variables and Adam state included). */
  peak_bytes: number | null;
  /** The WebGPU backend's bytes in GPU buffers (its pool included) after the steps. */
  gpu_allocated_bytes: number | null;
  parameters: number;
  /** The training step's kernels that took the most time (profiled warm-up step; timestamp queries). */
  top_kernels: { name: string; ms: number; count: number }[];
  loss: number;
  /** Where TF.js ran: the page, or Node on Dawn (bench/tfjs-node.ts). */
  runtime: 'browser' | 'node';
}

function buildModel(tf: TF, cfg: UnetConfig) {
  const vars: T[] = [];
  let seed = 1;
  const convW = (cin: number, cout: number, k: number) => {
    const v = tf.variable(tf.randomNormal([k, k, cin, cout], 0, Math.sqrt(2 / (cout * k * k)), 'float32', seed++));
    vars.push(v);
    return v;
  };
  const bnP = (c: number) => {
    const g = tf.variable(tf.ones([c]));
    const b = tf.variable(tf.zeros([c]));
    vars.push(g, b);
    return { g, b };
  };
  const conv = (x: T, w: T, s: number, p: number) => tf.conv2d(x, w, [s, s], p === 0 ? 'valid' : p);
  const bn = (x: T, q: { g: T; b: T }, relu: boolean) => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const y = tf.batchNorm(x, mean, variance, q.b, q.g, 1e-5);
    return relu ? tf.relu(y) : y;
  };
  const [stemC, ...layerC] = cfg.encoderChannels;
  const stem = { w: convW(cfg.inChannels, stemC, 7), bn: bnP(stemC) };
  let inC = stemC;
  const layers = layerC.map((outC, li) =>
    Array.from({ length: cfg.encoderBlocks[li] }, (_, bi) => {
      const cin = bi === 0 ? inC : outC;
      const stride = bi === 0 && li > 0 ? 2 : 1;
      const block = {
        stride,
        w1: convW(cin, outC, 3),
        bn1: bnP(outC),
        w2: convW(outC, outC, 3),
        bn2: bnP(outC),
        down: stride !== 1 || cin !== outC ? { w: convW(cin, outC, 1), bn: bnP(outC) } : null,
      };
      if (bi === 0) inC = outC;
      return block;
    }),
  );
  const skipC = [layerC[2], layerC[1], layerC[0], stemC, 0];
  let decIn = layerC[3];
  const decoder = cfg.decoderChannels.map((outC, i) => {
    const d = { w1: convW(decIn + skipC[i], outC, 3), bn1: bnP(outC), w2: convW(outC, outC, 3), bn2: bnP(outC) };
    decIn = outC;
    return d;
  });
  const headW = convW(cfg.decoderChannels[4], cfg.landmarks, 3);
  const headB = tf.variable(tf.zeros([cfg.landmarks]));
  vars.push(headB);

  const forward = (x: T): T => {
    const f1 = bn(conv(x, stem.w, 2, 3), stem.bn, true);
    const feats = [f1];
    let y = tf.maxPool(f1, 3, 2, 1);
    for (const layer of layers) {
      for (const b of layer) {
        const hdn = bn(conv(y, b.w1, b.stride, 1), b.bn1, true);
        const out = bn(conv(hdn, b.w2, 1, 1), b.bn2, false);
        const id = b.down ? bn(conv(y, b.down.w, b.stride, 0), b.down.bn, false) : y;
        y = tf.relu(tf.add(out, id));
      }
      feats.push(y);
    }
    const skips = [feats[3], feats[2], feats[1], feats[0], null];
    let d = feats[4];
    decoder.forEach((blk, i) => {
      const [, hh, ww] = d.shape;
      let u = tf.image.resizeNearestNeighbor(d, [hh * 2, ww * 2]);
      if (skips[i]) u = tf.concat([u, skips[i]], 3);
      const hdn = bn(conv(u, blk.w1, 1, 1), blk.bn1, true);
      d = bn(conv(hdn, blk.w2, 1, 1), blk.bn2, true);
    });
    return tf.add(conv(d, headW, 1, 1), headB);
  };
  return { vars, forward };
}

/** Selects and initialises the WebGPU backend of an already loaded `tf` (its backend module registered). */
export async function initWebgpu(tf: TF): Promise<void> {
  // profile() would otherwise read back every kernel's output to look for NaNs
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js: the webgpu backend did not initialise');
  await tf.ready();
}

const log = (s: string) => console.log(`tfjs: ${s}`);

/** The model on fixed inputs: one timed forward pass and one timed training step (each waits for its result). */
interface TfjsRunner {
  parameters: number;
  forwardOnce: () => Promise<number>;
  stepOnce: () => Promise<number>;
  /** The loss of the latest training step. */
  loss: () => number;
  opt: T;
}

function prepareRunner(tf: TF, cfg: TfjsConfig): TfjsRunner {
  const { h, w: width, batch: n } = cfg;
  const cfgM = cfg.model ?? RESNET34_UNET;
  const L = cfgM.landmarks;
  const model = buildModel(tf, cfgM);
  const parameters = model.vars.reduce((s: number, v: T) => s + v.size, 0);
  const x = tf.tidy(() => tf.randomUniform([n, h, width, 1], 0, 255, 'float32', 7));
  const temps = tf.ones([1, 1, 1, L]);
  const onehot = tf.tidy(() =>
    tf.oneHot(tf.tensor1d(Array.from({ length: n * L }, (_, i) => (i * 7919) % (h * width)), 'int32'), h * width).toFloat(),
  );
  const lossOf = (logits: T): T => {
    const maps = tf.reshape(tf.transpose(tf.div(logits, temps), [0, 3, 1, 2]), [n * L, h * width]);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(maps), onehot), 1)));
  };
  const opt = tf.train.adam(1e-3);

  const forwardOnce = async () => {
    const t0 = performance.now();
    const y = tf.tidy(() => model.forward(x));
    await y.data();
    y.dispose();
    return performance.now() - t0;
  };
  let loss = NaN;
  const stepOnce = async () => {
    const t0 = performance.now();
    const cost = opt.minimize(() => lossOf(model.forward(x)), true, model.vars);
    loss = (await cost.data())[0];
    cost.dispose();
    return performance.now() - t0;
  };
  return { parameters, forwardOnce, stepOnce, loss: () => loss, opt };
}

/** `reps` timed runs of `once`, each logged as "<what> run i". */
async function timeRuns(what: string, reps: number, once: () => Promise<number>, detail = () => ''): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    out.push(await once());
    log(`${what} run ${i + 1} ${out[i].toFixed(0)} ms${detail()}`);
  }
  return out;
}

/** The ten kernels that took the most time over a tf.profile run, summed by kernel name. */
function topKernels(prof: { kernels: { name: string; kernelTimeMs: unknown }[] }): TfjsResult['top_kernels'] {
  const byName = new Map<string, { ms: number; count: number }>();
  for (const k of prof.kernels) {
    const e = byName.get(k.name) ?? { ms: 0, count: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.count++;
    byName.set(k.name, e);
  }
  return [...byName.entries()].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.ms - a.ms).slice(0, 10);
}

/**
 * Warm-up training step under tf.profile: peak bytes and per-kernel times (not timed itself). Where profiling
 * fails the warm-up runs plain, with no kernel list (and no peak unless the profile got as far as it).
 */
async function profiledWarmStep(tf: TF, r: TfjsRunner): Promise<{ stepWarm: number; peak: number | null; top: TfjsResult['top_kernels'] }> {
  let peak: number | null = null;
  try {
    const t0 = performance.now();
    const prof = await tf.profile(async () => {
      await r.stepOnce();
    });
    const stepWarm = performance.now() - t0;
    peak = prof.peakBytes;
    return { stepWarm, peak, top: topKernels(prof) };
  } catch (e) {
    log(`profile failed (${(e as Error).message}); plain warm-up instead`);
    return { stepWarm: await r.stepOnce(), peak, top: [] };
  }
}

/** The anchor's forward and training-step runs on `tf`, whose WebGPU backend initWebgpu has selected. */
export async function runTfjsOn(tf: TF, cfg: TfjsConfig, runtime: TfjsResult['runtime']): Promise<TfjsResult> {
  const backend = tf.backend();
  const r = prepareRunner(tf, cfg);

  const forwardWarm = await r.forwardOnce();
  log(`forward warm-up ${forwardWarm.toFixed(0)} ms`);
  const forward = await timeRuns('forward', cfg.reps, r.forwardOnce);
  const { stepWarm, peak, top } = await profiledWarmStep(tf, r);
  log(`train step warm-up (profiled) ${stepWarm.toFixed(0)} ms, peak ${peak} bytes, loss ${r.loss()}`);
  const steps = await timeRuns('train step', cfg.reps, r.stepOnce, () => `, loss ${r.loss()}`);

  const mem = tf.memory();
  const info = backend?.adapterInfo;
  const result: TfjsResult = {
    version: tf.version?.tfjs ?? tf.version_core ?? 'unknown',
    backend: tf.getBackend(),
    adapter: info ? { vendor: info.vendor, architecture: info.architecture } : null,
    forward_ms: forward,
    train_step_ms: steps,
    forward_warmup_ms: forwardWarm,
    train_step_warmup_ms: stepWarm,
    peak_bytes: peak,
    // the WebGPU backend's memory() names its pool's bytes numBytesAllocatedInGPU
    gpu_allocated_bytes: mem.numBytesAllocatedInGPU ?? mem.numBytesInGPU ?? null,
    parameters: r.parameters,
    top_kernels: top,
    loss: r.loss(),
    runtime,
  };
  tf.disposeVariables();
  r.opt.dispose();
  return result;
}
