// A training step's GPU memory under each memory policy (src/ops/saved.ts), side by side in one process on one
// model: the peak live bytes, the part that lives across steps (parameters, gradients, Adam's state, the batch),
// the rest (the activations a step keeps for backward, and backward's working buffers), its ratio to the f32 run,
// the step's time, and the layers that held the most at the peak. The command line is bench/memory.ts; the GPU
// checks (scripts/gpu/checks.ts) call measurePolicies too.
// `dry` traces the steps instead of running them (engine.traceKernels: every tensor allocated as in a real step,
// nothing computed), so sizes too slow to run on a CPU adapter get their exact memory figures; no times then.
import { fmtBytes, type Holder, type PeakAllocation } from '../src/engine/buffer-pool.ts';
import type { Engine } from '../src/engine/engine.ts';
import { backward } from '../src/ops/backward.ts';
import { Adam } from '../src/nn/adam.ts';
import { MODEL_PRESETS, ResnetUnet, type ModelPreset } from '../src/nn/unet.ts';
import { full } from '../src/ops/fill.ts';
import { memoryPolicy, type MemoryPolicy } from '../src/ops/saved.ts';
import { trainingLoss } from '../src/chh/loss.ts';

export interface PolicyMemory {
  policy: MemoryPolicy;
  peak_live_bytes: number;
  /** Live before the step: parameters, gradients, Adam's moments, the batch. */
  persistent_bytes: number;
  /** peak - persistent: what the step itself added at its peak. */
  activation_bytes: number;
  /** activation_bytes over that of the first f32 policy without recompute measured before it (null: none yet). */
  activation_ratio: number | null;
  step_ms: number[];
  /** The largest holders at the peak (layers; persistent buffers by label). */
  holders: Holder[];
  /** The allocation that reached the peak (which op, in which layer). */
  peak_at: PeakAllocation | null;
}

export const POLICIES: readonly MemoryPolicy[] = [
  { storage: 'f32', recompute: false },
  { storage: 'f32', recompute: true },
  { storage: 'f16', recompute: false },
  { storage: 'f16', recompute: true },
];

export const policyName = (p: MemoryPolicy): string => `${p.storage}${p.recompute ? '+recompute' : ''}`;

/** Policies by name ("f16+recompute"), in the order given. */
export function parsePolicies(list: string): MemoryPolicy[] {
  return list.split(',').map((name) => {
    const p = POLICIES.find((q) => policyName(q) === name);
    if (!p) throw new Error(`--policies: "${name}" is not one of ${POLICIES.map(policyName).join(', ')}`);
    return p;
  });
}

/** One model, one Adam, each policy in turn: a warm-up step (compiles), then `reps` measured steps each. */
export async function measurePolicies(engine: Engine, preset: ModelPreset, h: number, w: number, n: number, reps: number, dry = false, policies = POLICIES): Promise<PolicyMemory[]> {
  engine.pool.trackOwners();
  const config = MODEL_PRESETS[preset];
  const model = new ResnetUnet(config);
  const state = model.allocate(engine, 0);
  const adam = new Adam(state.params, { lr: 1e-3 });
  const L = config.landmarks;
  const images = engine.untracked(() => full(engine, [n, 1, h, w], 128, { label: 'images' }));
  const targets = engine.untracked(() => engine.tensor(Int32Array.from({ length: n * L }, (_, i) => (i * 7919) % (h * w)), [n, L], { label: 'targets' }));
  const temperatures = engine.untracked(() => full(engine, [L], 1, { label: 'temperatures' }));
  const record = (): void => {
    engine.scope(() => backward(trainingLoss(model, state, images, temperatures, targets)));
    adam.step();
    adam.zeroGrad();
  };
  const step = dry ? () => void engine.traceKernels(record) : record;
  const out: PolicyMemory[] = [];
  const policyBefore = { ...memoryPolicy(engine) };
  try {
    for (const policy of policies) {
      Object.assign(memoryPolicy(engine), policy);
      step(); // compiles what this policy adds; Adam's state exists from the first step on
      await engine.sync();
      const persistent = engine.memory().liveBytes;
      engine.pool.resetPeak();
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        step();
        await engine.sync();
        if (!dry) times.push(Math.round(performance.now() - t0));
      }
      const peak = engine.memory().peakLiveBytes;
      const activation = peak - persistent;
      const isReference = (p: MemoryPolicy) => p.storage === 'f32' && !p.recompute;
      const reference = out.find((m) => isReference(m.policy));
      out.push({
        policy: { ...policy },
        peak_live_bytes: peak,
        persistent_bytes: persistent,
        activation_bytes: activation,
        activation_ratio: reference ? activation / reference.activation_bytes : isReference(policy) ? 1 : null,
        step_ms: times,
        holders: engine.pool.holders().slice(0, 8),
        peak_at: engine.pool.peakAllocation(),
      });
      log(out[out.length - 1]);
    }
  } finally {
    Object.assign(memoryPolicy(engine), policyBefore);
    adam.dispose();
    for (const t of [images, targets, temperatures]) t.dispose();
    state.dispose();
  }
  return out;
}

function log(m: PolicyMemory): void {
  const name = policyName(m.policy);
  console.log(
    `${name.padEnd(15)} peak ${fmtBytes(m.peak_live_bytes)}, persistent ${fmtBytes(m.persistent_bytes)}, activations ${fmtBytes(m.activation_bytes)}` +
      `${m.activation_ratio === null ? '' : ` (${m.activation_ratio.toFixed(3)}x f32's)`}${m.step_ms.length ? `, step ${m.step_ms.join('/')} ms` : ''}`,
  );
  const at = m.peak_at ? `reached allocating ${m.peak_at.label} (${fmtBytes(m.peak_at.bytes)}); ` : '';
  console.log(`  ${at}held at the peak: ${m.holders.map((h) => `${h.owner} ${fmtBytes(h.bytes)}`).join(', ')}`);
}
