// Times the full ResNet34-UNet on whatever adapter the engine gets: forward (no grad) and a full training step
// (forward, CHH loss, backward, Adam), median/min/max of several runs after warm-up, and peak live GPU memory.
//   npx tsx bench/model-step.ts --size 128x160 --batch 1 --reps 3 [--conv auto|TILE] [--subgroups auto|on|off] [--out FILE]
// Sizes are HxW. --conv forces one conv tile for forward, dgrad and wgrad, written as in bench/conv-micro.ts
// (TMxTN plus r: row-tiled, f: taps unrolled; e.g. 8x8rf); --subgroups sets conv2dTuning.subgroups. This is the model half of the benchmark; the TF.js comparison lives with the browser bench.
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/node/atomic.ts';
import { createNodeEngine } from '../src/node/gpu.ts';
import { backward } from '../src/ops/backward.ts';
import { Adam } from '../src/nn/adam.ts';
import { fmtBytes } from '../src/engine/buffer-pool.ts';
import { softmaxNll } from '../src/ops/softmax-nll.ts';
import { ResnetUnet, RESNET34_UNET } from '../src/nn/unet.ts';
import { conv2dTuning, type ConvTile } from '../src/ops/conv2d/tuning.ts';
import { full } from '../src/ops/fill.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '128x160' },
    batch: { type: 'string', default: '1' },
    reps: { type: 'string', default: '3' },
    out: { type: 'string' },
    conv: { type: 'string', default: 'auto' },
    subgroups: { type: 'string', default: 'auto' },
  },
});
let tile: ConvTile | null = null;
if (values.conv !== 'auto') {
  const m = /^(4|8)x(\d)([rf]*)$/.exec(values.conv!);
  if (!m) throw new Error(`--conv must be auto or TMxTN[r][f] (e.g. 8x8rf), got ${values.conv}`);
  tile = { tm: Number(m[1]) as 4 | 8, tn: Number(m[2]), rows: m[3].includes('r'), flat: m[3].includes('f') };
}
if (!['auto', 'on', 'off'].includes(values.subgroups!)) throw new Error(`--subgroups must be auto, on or off, got ${values.subgroups}`);
const [h, w] = values.size!.split('x').map(Number);
const n = Number(values.batch);
const reps = Number(values.reps);

const engine = await createNodeEngine();
const tuning = conv2dTuning(engine);
if (tile) Object.assign(tuning, { forward: tile, dgrad: tile, wgrad: tile });
tuning.subgroups = values.subgroups === 'auto' ? null : values.subgroups === 'on';
const model = new ResnetUnet(RESNET34_UNET);
const state = model.allocate(engine, 0);
const L = RESNET34_UNET.landmarks;
const adam = new Adam(state.params, { lr: 1e-3 });
const images = engine.untracked(() => full(engine, [n, 1, h, w], 128, { label: 'images' }));
const targets = engine.untracked(() => engine.tensor(Int32Array.from({ length: n * L }, (_, i) => (i * 7919) % (h * w)), [n, L], { label: 'targets' }));
const temperatures = engine.untracked(() => full(engine, [L], 1, { label: 'temperatures' }));

async function time(fn: () => void): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < reps + 1; i++) {
    await engine.sync();
    const t0 = performance.now();
    fn();
    await engine.sync();
    if (i > 0) out.push(performance.now() - t0); // the first run compiles pipelines: warm-up
  }
  return out.sort((a, b) => a - b);
}

const forward = await time(() => {
  engine.scope(() => engine.noGrad(() => model.forward(state, images)));
});
engine.pool.resetPeak();
const base = engine.memory().liveBytes;
const step = await time(() => {
  engine.scope(() => {
    const loss = softmaxNll(model.forward(state, images), temperatures, targets);
    backward(loss);
  });
  adam.step();
  adam.zeroGrad();
});
const mem = engine.memory();
const stats = (xs: number[]) => ({ median: xs[Math.floor(xs.length / 2)], min: xs[0], max: xs[xs.length - 1] });
const result = {
  adapter: engine.adapter,
  date: new Date().toISOString(),
  size: `${h}x${w}`,
  batch: n,
  conv: values.conv,
  subgroups: values.subgroups,
  parameters: state.params.count,
  forward_ms: stats(forward),
  train_step_ms: stats(step),
  peak_live_bytes: mem.peakLiveBytes,
  step_extra_peak_bytes: mem.peakLiveBytes - base,
};
console.log(JSON.stringify(result, null, 2));
console.log(`conv ${values.conv} subgroups ${values.subgroups}: forward ${result.forward_ms.median.toFixed(1)} ms, train step ${result.train_step_ms.median.toFixed(1)} ms, peak live ${fmtBytes(mem.peakLiveBytes)}`);
if (values.out) await writeFileAtomic(values.out, JSON.stringify(result, null, 2));
engine.destroy();
