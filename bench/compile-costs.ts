// What each pipeline of a run costs to compile: traces the kernels of a training step and of inference (as the CLI
// and npm start compile them ahead of the first step), compiles them one at a time on a fresh engine, and prints
// each kernel's time, slowest first, with its override constants. Where the compile of a first step goes:
//   npx tsx bench/compile-costs.ts --model paper --size 128x160 --batch 1
// Sizes are WxH. Times are wall clock in this process (Dawn in Node), so a shared machine moves them by ~30%.
import { parseArgs } from 'node:util';
import { createNodeEngine } from '../src/node/gpu.ts';
import { ResnetUnet, MODEL_PRESETS, type ModelPreset } from '../src/nn/unet.ts';
import { traceModel } from '../src/chh/compile.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'paper' },
    size: { type: 'string', default: '128x160' },
    batch: { type: 'string', default: '1' },
  },
});
const size = /^(\d+)x(\d+)$/.exec(values.size!);
const batch = Number(values.batch);
if (!size || !(values.model! in MODEL_PRESETS) || !Number.isInteger(batch) || batch < 1) {
  console.error(`compile-costs: --size WxH, --model ${Object.keys(MODEL_PRESETS).join('|')}, --batch N (positive), got ${values.size}, ${values.model}, ${values.batch}`);
  process.exit(2);
}

const engine = await createNodeEngine();
const model = new ResnetUnet(MODEL_PRESETS[values.model as ModelPreset]);
const state = model.allocate(engine, 0);
const kernels = [...traceModel(engine, model, state, { width: Number(size[1]), height: Number(size[2]), train: [batch], augment: true, infer: [batch] })];
const rows: { ms: number; name: string }[] = [];
for (const k of kernels) {
  const t = performance.now();
  await engine.compileKernels([k]);
  rows.push({ ms: performance.now() - t, name: `${k.name} ${JSON.stringify(k.spec.constants ?? {})}` });
}
rows.sort((a, b) => b.ms - a.ms);
for (const r of rows) console.log(`${r.ms.toFixed(0).padStart(6)} ms  ${r.name}`);
const total = rows.reduce((s, r) => s + r.ms, 0);
console.log(`${kernels.length} kernels, ${(total / 1000).toFixed(2)} s in all (${engine.adapter.vendor} / ${engine.adapter.architecture})`);
state.dispose();
engine.destroy();
