// Times the full ResNet34-UNet on whatever adapter the engine gets: forward (no grad) and a full training step
// (forward, CHH loss, backward, Adam), median/min/max of several runs after warm-up, and peak live GPU memory.
//   npx tsx bench/model-step.ts --size 128x160 --batch 1 --reps 3 [--conv auto|TILE] [--subgroups auto|on|off] [--out FILE]
// Sizes are HxW. --conv forces one conv tile for forward, dgrad and wgrad, written as in bench/conv-micro.ts
// (TMxTN plus r: row-tiled, f: taps unrolled; e.g. 8x8rf); --subgroups sets conv2dTuning.subgroups. This is the model half of the benchmark; the TF.js comparison lives with the browser bench.
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/node/atomic.ts';
import { createNodeEngine } from '../src/node/gpu.ts';
import { fmtBytes } from '../src/engine/buffer-pool.ts';
import { conv2dTuning, type ConvTile } from '../src/ops/conv2d/tuning.ts';
import { timeModel } from './model-timing.ts';

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
const timing = await timeModel(engine, h, w, n, reps);
const result = {
  adapter: engine.adapter,
  date: new Date().toISOString(),
  size: `${h}x${w}`,
  batch: n,
  conv: values.conv,
  subgroups: values.subgroups,
  ...timing,
};
console.log(JSON.stringify(result, null, 2));
console.log(`conv ${values.conv} subgroups ${values.subgroups}: forward ${result.forward_ms.median.toFixed(1)} ms, train step ${result.train_step_ms.median.toFixed(1)} ms, peak live ${fmtBytes(timing.peak_live_bytes)}`);
if (values.out) await writeFileAtomic(values.out, JSON.stringify(result, null, 2));
engine.destroy();
