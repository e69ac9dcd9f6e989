// The full ResNet34-UNet on an engine: forward (no grad) and a full training step (forward, CHH loss, backward,
// Adam), sorted times of `reps` runs after one warm-up (which compiles), and the peak live GPU memory. Everything it
// allocates is freed, so one process can time several kernel choices side by side (scripts/gpu/checks.ts).
import type { Engine } from '../src/engine/engine.ts';
import { backward } from '../src/ops/backward.ts';
import { Adam } from '../src/nn/adam.ts';
import { ResnetUnet, RESNET34_UNET } from '../src/nn/unet.ts';
import { full } from '../src/ops/fill.ts';
import { trainingLoss } from '../src/chh/loss.ts';

export interface RangeMs {
  median: number;
  min: number;
  max: number;
}

export interface ModelTiming {
  parameters: number;
  forward_ms: RangeMs;
  train_step_ms: RangeMs;
  peak_live_bytes: number;
  /** Peak live bytes during the training steps beyond what was live before them. */
  step_extra_peak_bytes: number;
}

const range = (xs: number[]): RangeMs => ({ median: xs[Math.floor(xs.length / 2)], min: xs[0], max: xs[xs.length - 1] });

/** Times the model at height h, width w, batch n. */
export async function timeModel(engine: Engine, h: number, w: number, n: number, reps: number): Promise<ModelTiming> {
  const model = new ResnetUnet(RESNET34_UNET);
  const state = model.allocate(engine, 0);
  const L = RESNET34_UNET.landmarks;
  const adam = new Adam(state.params, { lr: 1e-3 });
  const images = engine.untracked(() => full(engine, [n, 1, h, w], 128, { label: 'images' }));
  const targets = engine.untracked(() => engine.tensor(Int32Array.from({ length: n * L }, (_, i) => (i * 7919) % (h * w)), [n, L], { label: 'targets' }));
  const temperatures = engine.untracked(() => full(engine, [L], 1, { label: 'temperatures' }));
  const time = async (fn: () => void): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < reps + 1; i++) {
      await engine.sync();
      const t0 = performance.now();
      fn();
      await engine.sync();
      if (i > 0) out.push(performance.now() - t0); // the first run compiles pipelines: warm-up
    }
    return out.sort((a, b) => a - b);
  };
  try {
    const forward = await time(() => engine.scope(() => void engine.noGrad(() => model.forward(state, images))));
    engine.pool.resetPeak();
    const base = engine.memory().liveBytes;
    const step = await time(() => {
      engine.scope(() => backward(trainingLoss(model, state, images, temperatures, targets)));
      adam.step();
      adam.zeroGrad();
    });
    const mem = engine.memory();
    return { parameters: state.params.count, forward_ms: range(forward), train_step_ms: range(step), peak_live_bytes: mem.peakLiveBytes, step_extra_peak_bytes: mem.peakLiveBytes - base };
  } finally {
    adam.dispose();
    for (const t of [images, targets, temperatures]) t.dispose();
    state.dispose();
  }
}
