// Dynamic loss scaling for training whose gradients pass through f16 (the conv GEMMs' f16 operands): backward starts
// from the loss times the scale, so that small gradients stay above f16's smallest values; the optimizer divides by
// it and skips its update when the step rounded a value beyond f16's range (the flag of src/ops/f16-range.ts); the
// scale halves on such a step and doubles after a run of good ones. PyTorch's GradScaler semantics (same defaults),
// kept on the GPU (loss_scale.wgsl), so that no step waits for the CPU to learn whether the one before overflowed.
import type { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';
import { f16RangeFlag } from '../ops/f16-range.ts';

export interface LossScalerOptions {
  /** The first scale (PyTorch: 2^16). */
  initScale?: number;
  /** Good steps in a row after which the scale doubles (PyTorch: 2000). */
  growthInterval?: number;
  /** Bounds of the scale: halving stops at min, doubling at max. */
  minScale?: number;
  maxScale?: number;
}

export const LOSS_SCALING = { initScale: 2 ** 16, growthInterval: 2000, minScale: 2 ** -14, maxScale: 2 ** 24 } as const;

/** The state's words, as loss_scale.wgsl's ScalerState lays them out. */
const WORDS = 5;

/** What the scaler's state says, read back. */
export interface LossScaleStatus {
  scale: number;
  goodSteps: number;
  /** Steps the optimizer took, and steps skipped because they overflowed f16. */
  stepsTaken: number;
  skippedSteps: number;
}

export class LossScaler {
  /** The state on the GPU ([5] words: scale, 1/scale as f32, good steps, steps taken, skipped as u32). */
  readonly state: Tensor;
  /** What the optimizers' scaled updates read ([4]: 1/scale, the skip, the step's number t, 0), made by prepare(). */
  readonly step: Tensor;
  private readonly options: Required<LossScalerOptions>;

  constructor(
    private readonly engine: Engine,
    options: LossScalerOptions = {},
  ) {
    this.options = { ...LOSS_SCALING, ...options };
    const { initScale, growthInterval, minScale, maxScale } = this.options;
    const powerOfTwo = (v: number) => v > 0 && Number.isFinite(v) && Math.log2(v) === Math.round(Math.log2(v));
    for (const [name, v] of Object.entries({ initScale, minScale, maxScale })) {
      if (!powerOfTwo(v)) throw new Error(`LossScaler: ${name} must be a power of two (so that scaling is exact), got ${v}`);
    }
    if (!(minScale <= initScale && initScale <= maxScale)) throw new Error(`LossScaler: need minScale <= initScale <= maxScale, got ${minScale}, ${initScale}, ${maxScale}`);
    if (!Number.isInteger(growthInterval) || growthInterval < 1) throw new Error(`LossScaler: growthInterval must be a positive integer, got ${growthInterval}`);
    this.state = engine.untracked(() => engine.tensor(stateWords({ scale: initScale, goodSteps: 0, stepsTaken: 0, skippedSteps: 0 }), [WORDS], { label: 'loss scaler' }));
    this.step = engine.untracked(() => engine.zeros([4], { label: 'loss scaler.step' }));
  }

  /** The scale as a [1] tensor (a view of the state): backward's seed. */
  get scale(): Tensor {
    return this.state.view(0, [1]);
  }

  /** This engine's f16 range flag, which prepare() and update() read. */
  get overflowFlag(): Tensor {
    return f16RangeFlag(this.engine);
  }

  /** Clears the flag: call before the step's forward, so that it says whether this step overflowed. */
  beginStep(): void {
    this.engine.clear(this.overflowFlag);
  }

  /** Before the optimizer's scaled update: `step` from the state and the flag. */
  prepare(): void {
    const e = this.engine;
    const k = e.kernel({ shader: SHADERS.loss_scale, entry: 'prepare', bindings: ['scaler', 'f16_overflow', 'scaler_step'] });
    e.run(k, { scaler: this.state, f16_overflow: this.overflowFlag, scaler_step: this.step }, [1, 1, 1]);
  }

  /** After the optimizer's scaled update: counts the step as taken or skipped, and grows or halves the scale. */
  update(): void {
    const e = this.engine;
    const k = e.kernel({ shader: SHADERS.loss_scale, entry: 'update', bindings: ['scaler', 'f16_overflow', 'params'] });
    const { growthInterval, minScale, maxScale } = this.options;
    const params = { growth_interval: growthInterval, min_scale: minScale, max_scale: maxScale };
    e.run(k, { scaler: this.state, f16_overflow: this.overflowFlag, params }, [1, 1, 1]);
  }

  async status(): Promise<LossScaleStatus> {
    return statusOf((await this.state.read()) as Float32Array);
  }

  /** Starts again from the first scale with `stepsTaken` steps already taken (a checkpoint from before scaling). */
  restart(stepsTaken: number): void {
    this.engine.write(this.state, stateWords({ scale: this.options.initScale, goodSteps: 0, stepsTaken, skippedSteps: 0 }));
  }

  /** Overwrites the state (a checkpoint's: the words status() reads). */
  load(words: Float32Array): void {
    if (words.length !== WORDS) throw new Error(`LossScaler: a saved state has ${WORDS} words, got ${words.length}`);
    this.engine.write(this.state, words);
  }

  dispose(): void {
    this.state.dispose();
    this.step.dispose();
  }
}

function stateWords(s: LossScaleStatus): Float32Array {
  const words = new Float32Array(WORDS);
  const counts = new Uint32Array(words.buffer);
  words[0] = s.scale;
  words[1] = 1 / s.scale;
  counts[2] = s.goodSteps;
  counts[3] = s.stepsTaken;
  counts[4] = s.skippedSteps;
  return words;
}

function statusOf(words: Float32Array): LossScaleStatus {
  const counts = new Uint32Array(words.buffer, words.byteOffset, WORDS);
  return { scale: words[0], goodSteps: counts[2], stepsTaken: counts[3], skippedSteps: counts[4] };
}
