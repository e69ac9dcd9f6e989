// What dynamic loss scaling adds to a training step's optimizer update, side by side: Adam over P parameters (one
// flat buffer, as a ParameterStore's), unscaled and with a loss scaler (the scale divided out, the overflow flag
// read, the bias corrections computed on the GPU, the scaler's update), alternating, R rounds after a warm-up:
//   npx tsx bench/loss-scale.ts [--params P] [--reps R] [--out FILE]
// P defaults to the paper model's 24.4 M parameters.
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/node/atomic.ts';
import { createNodeEngine } from '../src/node/gpu.ts';
import { Adam } from '../src/nn/adam.ts';
import { LossScaler } from '../src/nn/loss-scale.ts';
import { ResnetUnet, RESNET34_UNET } from '../src/nn/unet.ts';
import { shapeSize } from '../src/engine/tensor.ts';

const { values } = parseArgs({ options: { params: { type: 'string' }, reps: { type: 'string', default: '5' }, out: { type: 'string' } } });
const reps = Number(values.reps);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${values.reps}`);
const n = values.params ? Number(values.params) : new ResnetUnet(RESNET34_UNET).builder.params.reduce((t, q) => t + shapeSize(q.shape), 0);
if (!Number.isInteger(n) || n < 1) throw new Error(`--params must be a positive integer, got ${values.params}`);

const engine = await createNodeEngine();
const p = engine.tensor(new Float32Array(n).fill(0.5), [n], { requiresGrad: true, label: 'params' });
p.grad = engine.tensor(new Float32Array(n).fill(1e-3), [n], { label: 'params.grad' });
const adam = new Adam([p]);
const scaler = new LossScaler(engine);
const time = async (update: () => void): Promise<number> => {
  await engine.sync();
  const t0 = performance.now();
  update();
  await engine.sync();
  return performance.now() - t0;
};
const unscaled: number[] = [];
const scaled: number[] = [];
for (let round = 0; round <= reps; round++) {
  const u = await time(() => adam.step());
  const s = await time(() => adam.step(scaler));
  if (round > 0) [unscaled.push(u), scaled.push(s)]; // round 0 compiles and allocates
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const report = { adapter: engine.adapter, date: new Date().toISOString(), params: n, reps, unscaled_ms: unscaled, scaled_ms: scaled, ratio: median(scaled) / median(unscaled) };
console.log(`Adam over ${n} parameters: unscaled ${median(unscaled).toFixed(1)} ms, scaled ${median(scaled).toFixed(1)} ms (median of ${reps}, alternating): x${report.ratio.toFixed(2)}`);
if (values.out) await writeFileAtomic(values.out, JSON.stringify(report, null, 2));
for (const t of [scaler, adam, p.grad, p]) t.dispose();
engine.destroy();
