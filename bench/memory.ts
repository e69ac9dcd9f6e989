// A training step's GPU memory under each memory policy, side by side (bench/policy-memory.ts measures it):
//   npx tsx bench/memory.ts [--size HxW] [--batch N] [--model paper|small|tiny] [--reps R] [--dry] [--out FILE]
//                           [--policies f32,f32+recompute,f16,f16+recompute] (the order they run in; repeats allowed)
// --dry traces the steps instead of running them (engine.traceKernels: every tensor allocated as in a real step,
// nothing computed), so sizes too slow to run on a CPU adapter get their exact memory figures; no times then.
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/node/atomic.ts';
import { createNodeEngine } from '../src/node/gpu.ts';
import { MODEL_PRESETS, type ModelPreset } from '../src/nn/unet.ts';
import { POLICIES, measurePolicies, parsePolicies, policyName } from './policy-memory.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '128x160' },
    batch: { type: 'string', default: '1' },
    model: { type: 'string', default: 'paper' },
    reps: { type: 'string', default: '1' },
    dry: { type: 'boolean', default: false },
    policies: { type: 'string', default: POLICIES.map(policyName).join(',') },
    out: { type: 'string' },
  },
});
const [h, w] = values.size!.split('x').map(Number);
if (!(values.model! in MODEL_PRESETS)) throw new Error(`--model must be one of ${Object.keys(MODEL_PRESETS).join(', ')}, got ${values.model}`);
if (!(h > 0 && w > 0 && h % 32 === 0 && w % 32 === 0)) throw new Error(`--size must be HxW, multiples of 32, got ${values.size}`);
const engine = await createNodeEngine();
const results = await measurePolicies(engine, values.model as ModelPreset, h, w, Number(values.batch), Number(values.reps), values.dry, parsePolicies(values.policies!));
const report = { adapter: engine.adapter, date: new Date().toISOString(), model: values.model, size: `${h}x${w}`, batch: Number(values.batch), dry: values.dry, results };
if (values.out) await writeFileAtomic(values.out, JSON.stringify(report, null, 2));
engine.destroy();
