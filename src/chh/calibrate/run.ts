// What the parts of one temperature-scaling run share (calibrate.ts sets it up), and the shape of an objective:
// one epoch on the first half that steps the temperatures.
import type { Engine } from '../../engine/engine.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { BatchLoader, SampleGeometry } from '../../data/batches.ts';
import type { CalibrationOptions } from '../metrics/calibration.ts';
import type { FrozenLogits } from './logits.ts';

export interface CalibrationRun {
  readonly engine: Engine;
  readonly geometry: SampleGeometry;
  /** The first half, shuffled by seed and epoch. */
  readonly fitLoader: BatchLoader;
  /** The second half, in order. */
  readonly valLoader: BatchLoader;
  readonly logits: FrozenLogits;
  /** The temperatures [L] on the GPU: what every pass divides the logits by. */
  readonly temps: Tensor;
  /** ERE cutoff of the mode probability passes (does not change mode probabilities). */
  readonly cutoff: number;
  /** ECE binning. */
  readonly calibration: CalibrationOptions;
  readonly lr: number;
  /** Lower clamp of T after each step. */
  readonly minTemperature: number;
}

/** Per step of an epoch: the first half's NLL, and its ECE where the objective measures it (NaN elsewhere). */
export interface EpochLosses {
  losses: number[];
  fitEces: number[];
}

/** Called after each step: its 1-based number, the steps of the epoch, and the objective before the step. */
export type StepReport = (step: number, steps: number, loss: number) => void;

/** What the temperatures are fitted to: one epoch on the first half, which leaves the new temperatures in temps. */
export interface Objective {
  epoch(epoch: number, onStep: StepReport): Promise<EpochLosses>;
  dispose(): void;
}
