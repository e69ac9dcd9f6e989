// The 'nll' objective, the reference's (temperature_scaling.py): Adam on the CHH loss (2D softmax of logits / T, NLL
// of the target pixel), one step per batch, the engine's Adam on the GPU. Why it is not the default:
// docs/decisions.md, "Temperature scaling".
import type { Tensor } from '../../engine/tensor.ts';
import { add, sub } from '../../ops/add.ts';
import { backward } from '../../ops/backward.ts';
import { full } from '../../ops/fill.ts';
import { relu } from '../../ops/relu.ts';
import { softmaxNll } from '../../ops/softmax-nll.ts';
import { Adam } from '../../nn/adam.ts';
import type { CalibrationRun, EpochLosses, StepReport } from './run.ts';

/** The 'nll' objective: backward of softmaxNll into temps.grad (temps requires grad), then Adam and the clamp. */
export class NllObjective {
  /** minTemperature in every element, for the clamp on the GPU. */
  private readonly floor: Tensor;
  private readonly optimizer: Adam;

  constructor(private readonly run: CalibrationRun) {
    const { engine, geometry, minTemperature, temps, lr } = run;
    this.floor = engine.untracked(() => full(engine, [geometry.landmarks], minTemperature, { label: 'calibrate.minTemperature' }));
    this.optimizer = new Adam([temps], { lr });
  }

  /** One epoch: one step per batch of the first half. */
  async epoch(epoch: number, onStep: StepReport): Promise<EpochLosses> {
    const { fitLoader, logits } = this.run;
    const losses: number[] = [];
    const fitEces: number[] = [];
    const steps = fitLoader.length;
    for (const batch of fitLoader.epoch(epoch)) {
      const fit = await logits.fit(batch, epoch);
      let v: number;
      try {
        v = await this.step(fit.logits, fit.targets);
      } finally {
        fit.dispose();
      }
      if (!Number.isFinite(v)) throw new Error(`calibrateTemperatures: the NLL is ${v} at epoch ${epoch}, step ${batch.index + 1}`);
      losses.push(v);
      fitEces.push(NaN);
      onStep(batch.index + 1, steps, v);
    }
    return { losses, fitEces };
  }

  /** One step on the batch's NLL; returns the NLL before the step. */
  private async step(logits: Tensor, targets: Int32Array): Promise<number> {
    const { engine, temps } = this.run;
    const { floor, optimizer } = this;
    const loss = engine.scope(() => {
      const l = softmaxNll(logits, temps, targets);
      backward(l);
      return l;
    });
    optimizer.step();
    // T <- max(T, minT) = relu(T - minT) + minT, on the GPU.
    engine.scope(() =>
      engine.noGrad(() => {
        const shifted = relu(sub(temps, floor));
        const clamped = add(shifted, floor);
        engine.copy(clamped, temps);
      }),
    );
    optimizer.zeroGrad();
    const v = await loss.item();
    loss.dispose();
    return v;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.floor.dispose();
  }
}
