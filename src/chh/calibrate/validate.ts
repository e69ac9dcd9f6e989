// The second half's ECE and mean NLL at the current temperatures: what picks the best epoch (never augmented, so
// its logits are cached whenever they fit). Binning and correctness as metrics.calibration: docs/decisions.md,
// "Temperature scaling".
import { expectedRadialError } from '../../ops/ere.ts';
import { softmaxNll } from '../../ops/softmax-nll.ts';
import { argmaxErrorMm } from '../../data/batches.ts';
import { calibration, type CalibrationResult } from '../metrics/calibration.ts';
import type { CalibrationRun } from './run.ts';

export interface Validation {
  ece: number;
  nll: number;
  result: CalibrationResult;
}

/**
 * The ECE and mean NLL of the second half at the temperatures in run.temps. The truth for the ECE: radial errors
 * depend only on the argmax (T > 0 never moves it), computed at every pass anyway.
 */
export async function validate(run: CalibrationRun): Promise<Validation> {
  const { engine, geometry, cutoff, temps } = run;
  const { width, landmarks: L } = geometry;
  const errors: number[] = [];
  const modes: number[] = [];
  const sizes: [number, number][] = [];
  let nll = 0;
  for (const batch of run.valLoader.epoch(0)) {
    const { logits, release } = run.logits.validation(batch);
    const out = engine.scope(() =>
      engine.noGrad(() => {
        const r = expectedRadialError(logits, temps, batch.pixelSizeTensor, { cutoff });
        r.ere.dispose();
        return { modeProb: r.modeProb, argmax: r.argmax, loss: softmaxNll(logits, temps, batch.targets) };
      }),
    );
    const [mode, arg, loss] = await Promise.all([out.modeProb.read(), out.argmax.read(), out.loss.item()]);
    out.modeProb.dispose();
    out.argmax.dispose();
    out.loss.dispose();
    release();
    nll += loss * batch.size;
    batch.samples.forEach((s, i) => {
      for (let l = 0; l < L; l++) {
        errors.push(argmaxErrorMm(arg[i * L + l], width, s.landmarks, l, s.pixelSizeMm));
        modes.push(mode[i * L + l]);
        sizes.push(s.pixelSizeMm);
      }
    });
  }
  const result = calibration(errors, modes, sizes, run.calibration);
  return { ece: result.ece, nll: nll / run.valLoader.samples.length, result };
}
