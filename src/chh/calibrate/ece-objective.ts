// The 'ece' objective (the default): Adam on the ECE of the whole first half, one step per epoch, the bins held fixed;
// dECE/dT from a central difference of the mode probabilities. Why the whole half and not each batch:
// docs/decisions.md, "Temperature scaling".
import type { Engine } from '../../engine/engine.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { expectedRadialError } from '../../ops/ere.ts';
import { softmaxNll } from '../../ops/softmax-nll.ts';
import { argmaxErrorMm, type Batch } from '../../data/batches.ts';
import { calibrationBinIndexer, correctRadiusMm, type CalibrationOptions } from '../metrics/calibration.ts';
import { EVALUATION } from '../config.ts';
import type { CalibrationRun, EpochLosses, StepReport } from './run.ts';

/** Relative step of the central difference that gives d(mode probability)/dT (modeProbabilitySlopes). */
export const MODE_PROBABILITY_STEP = 1e-3;

export interface ModeProbabilitySlopes {
  /** [N * L] mode probability of each map at the given temperatures. */
  modeProb: Float32Array;
  /** [N * L] flat argmax index y * W + x of each map. */
  argmax: Int32Array;
  /** [N * L] d modeProb / d T of the map's landmark (central difference, f64 arithmetic on the f32 results). */
  slope: Float64Array;
}

/**
 * Mode probabilities of logits [N, L, H, W] at temperatures T (one per landmark) and their derivatives dc/dT_l.
 *
 * Analytically dc/dT = c / T^2 * (E_p[z] - z_max) (c = max softmax(z / T)), but no kernel computes E_p[z] per map,
 * and expectedRadialError already gives c at any temperatures. Map (n, l) depends only on T_l, so ONE pass at
 * T * (1 + h) and ONE at T * (1 - h) (all landmarks perturbed at once) give every partial derivative:
 * dc/dT_l ~ (c(T_l+) - c(T_l-)) / (T_l+ - T_l-). Robustness: the step is relative (h = MODE_PROBABILITY_STEP, so it
 * scales with T), central (error O(h^2)), and divided by the perturbed temperatures as the GPU sees them (rounded
 * to f32), not by the nominal 2hT. With h = 1e-3 the f32 rounding of c (~1e-7 relative) is far below the
 * difference being measured for any map that carries weight in the ECE.
 */
export async function modeProbabilitySlopes(
  engine: Engine,
  logits: Tensor,
  temperatures: ArrayLike<number>,
  pixelSizeMm: Tensor,
  options: { relativeStep?: number; cutoff?: number } = {},
): Promise<ModeProbabilitySlopes> {
  const op = 'modeProbabilitySlopes';
  const h = options.relativeStep ?? MODE_PROBABILITY_STEP;
  if (!(h > 0 && h < 0.5)) throw new Error(`${op}: relativeStep must be in (0, 0.5), got ${h}`);
  const L = temperatures.length;
  const centre = Float32Array.from(temperatures);
  const plus = centre.map((t) => t * (1 + h));
  const minus = centre.map((t) => t * (1 - h));
  for (let l = 0; l < L; l++) {
    if (!(centre[l] > 0) || !Number.isFinite(centre[l])) throw new Error(`${op}: temperature ${l} is ${centre[l]}, expected a finite number > 0`);
  }
  const out = engine.scope(() =>
    engine.noGrad(() =>
      [centre, plus, minus].map((values, k) => {
        const t = engine.tensor(values, [L], { label: `${op}.temperatures[${k}]` });
        const r = expectedRadialError(logits, t, pixelSizeMm, { cutoff: options.cutoff ?? EVALUATION.cutoff.default });
        r.ere.dispose();
        if (k > 0) r.argmax.dispose();
        return k === 0 ? { modeProb: r.modeProb, argmax: r.argmax } : { modeProb: r.modeProb };
      }),
    ),
  );
  try {
    const [c, cPlus, cMinus, arg] = await Promise.all([out[0].modeProb.read(), out[1].modeProb.read(), out[2].modeProb.read(), out[0].argmax!.read()]);
    const slope = new Float64Array(c.length);
    for (let i = 0; i < c.length; i++) {
      const l = i % L;
      slope[i] = (cPlus[i] - cMinus[i]) / (plus[l] - minus[l]);
    }
    return { modeProb: Float32Array.from(c), argmax: Int32Array.from(arg as Int32Array), slope };
  } finally {
    for (const o of out) {
      o.modeProb.dispose();
      o.argmax?.dispose();
    }
  }
}

/**
 * The ECE of a set of maps and its gradient with respect to the per-landmark temperatures, the bins held fixed:
 * ECE = sum_b |sum_{i in b} (c_i - a_i)| / N, so dECE/dT_l = sum_b sign(sum_{i in b} (c_i - a_i)) *
 * sum_{i in b, landmark of i = l} dc_i/dT_l / N. Samples are in [N, L] order (sample i is landmark i % L); correct
 * is a_i (radial error below correctRadiusMm); binning is metrics.calibration's (calibrationBinIndexer), so ece is
 * exactly calibration(...).ece. f64 throughout.
 */
export function eceAndGradient(
  confidence: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  slope: ArrayLike<number>,
  landmarks: number,
  options: CalibrationOptions = {},
): { ece: number; gradient: Float64Array } {
  const n = confidence.length;
  if (correct.length !== n || slope.length !== n) throw new Error(`eceAndGradient: ${n} confidences, ${correct.length} correctness flags and ${slope.length} slopes`);
  if (!Number.isInteger(landmarks) || landmarks < 1 || n % landmarks !== 0) throw new Error(`eceAndGradient: ${n} samples are not whole images of ${landmarks} landmarks`);
  if (n === 0) throw new Error('eceAndGradient: no samples');
  const binOf = calibrationBinIndexer(options);
  const bins = new Int32Array(n);
  const gap = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    bins[i] = binOf(confidence[i]);
    gap.set(bins[i], (gap.get(bins[i]) ?? 0) + confidence[i] - (correct[i] ? 1 : 0));
  }
  let ece = 0;
  for (const g of gap.values()) ece += Math.abs(g);
  const gradient = new Float64Array(landmarks);
  for (let i = 0; i < n; i++) gradient[i % landmarks] += Math.sign(gap.get(bins[i])!) * slope[i];
  for (let l = 0; l < landmarks; l++) gradient[l] /= n;
  return { ece: ece / n, gradient };
}

/** Adam with PyTorch's formulas (torch.optim.Adam, no weight decay, no amsgrad) on a few f64 numbers on the CPU. */
export class CpuAdam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  stepCount = 0;
  constructor(
    size: number,
    readonly lr: number,
    readonly betas: [number, number] = [0.9, 0.999],
    readonly eps = 1e-8,
  ) {
    if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`CpuAdam: lr must be a positive number, got ${lr}`);
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  /** One step of params (updated in place) along grad. */
  step(params: Float64Array, grad: ArrayLike<number>): void {
    const [b1, b2] = this.betas;
    this.stepCount++;
    const bc1 = 1 - b1 ** this.stepCount;
    const bc2 = 1 - b2 ** this.stepCount;
    for (let i = 0; i < params.length; i++) {
      this.m[i] = b1 * this.m[i] + (1 - b1) * grad[i];
      this.v[i] = b2 * this.v[i] + (1 - b2) * grad[i] * grad[i];
      const denom = Math.sqrt(this.v[i]) / Math.sqrt(bc2) + this.eps;
      params[i] -= (this.lr / bc1) * (this.m[i] / denom);
    }
  }
}

/** Correct (radial error of the argmax pixel's centre below correctRadiusMm), per map in [N, L] order. */
function correctness(argmax: Int32Array, batch: Batch, landmarks: Float32Array, width: number, L: number): boolean[] {
  const correct: boolean[] = [];
  for (let i = 0; i < batch.size; i++) {
    const size: [number, number] = [batch.pixelSizes[2 * i], batch.pixelSizes[2 * i + 1]];
    const radius = correctRadiusMm(size);
    for (let l = 0; l < L; l++) correct.push(argmaxErrorMm(argmax[i * L + l], width, landmarks, i * L + l, size) < radius);
  }
  return correct;
}

/**
 * The 'ece' objective. The gradient is assembled on the CPU (eceAndGradient), so a CPU Adam with torch's formulas
 * steps f64 copies of the L temperatures, which are written to run.temps after each step.
 */
export class EceObjective {
  private readonly adam: CpuAdam;
  private readonly current: Float64Array;

  constructor(
    private readonly run: CalibrationRun,
    initial: ArrayLike<number>,
  ) {
    this.adam = new CpuAdam(run.geometry.landmarks, run.lr);
    this.current = Float64Array.from(initial);
  }

  /** One epoch: one step on the ECE of the whole first half. */
  async epoch(epoch: number, onStep: StepReport): Promise<EpochLosses> {
    const r = await this.step(epoch);
    if (!Number.isFinite(r.nll)) throw new Error(`calibrateTemperatures: the NLL is ${r.nll} at epoch ${epoch}`);
    const bad = Array.from(this.current).find((t) => !Number.isFinite(t));
    if (bad !== undefined) throw new Error(`calibrateTemperatures: a temperature became ${bad} at epoch ${epoch} (the ECE of the first half was ${r.ece})`);
    onStep(1, 1, r.ece);
    return { losses: [r.nll], fitEces: [r.ece] };
  }

  /**
   * A pass over the whole first half in batches (augmented or plain) gathers every map's mode probability c, dc/dT
   * (modeProbabilitySlopes) and correctness (argmax against the batch's landmarks, as validate() does it); then ONE
   * Adam step on the ECE of the whole first half (eceAndGradient), the clamp, and the new temperatures written to
   * temps. Returns the half's ECE and mean NLL at the temperatures the epoch started from.
   */
  private async step(epoch: number): Promise<{ ece: number; nll: number }> {
    const { engine, temps, fitLoader, cutoff, minTemperature } = this.run;
    const { width, landmarks: L } = this.run.geometry;
    const { current } = this;
    const confidence: number[] = [];
    const slope: number[] = [];
    const correct: boolean[] = [];
    let nll = 0;
    for (const batch of fitLoader.epoch(epoch)) {
      const fit = await this.run.logits.fit(batch, epoch);
      try {
        const nllTensor = engine.scope(() => engine.noGrad(() => softmaxNll(fit.logits, temps, fit.targets)));
        const slopes = await modeProbabilitySlopes(engine, fit.logits, Float32Array.from(current), batch.pixelSizeTensor, { cutoff });
        nll += (await nllTensor.item()) * batch.size;
        nllTensor.dispose();
        confidence.push(...slopes.modeProb);
        slope.push(...slopes.slope);
        correct.push(...correctness(slopes.argmax, batch, fit.landmarks, width, L));
      } finally {
        fit.dispose();
      }
    }
    const { ece, gradient } = eceAndGradient(confidence, correct, slope, L, this.run.calibration);
    this.adam.step(current, gradient);
    for (let l = 0; l < L; l++) current[l] = Math.max(current[l], minTemperature);
    engine.write(temps, Float32Array.from(current));
    return { ece, nll: nll / fitLoader.samples.length };
  }

  dispose(): void {}
}
