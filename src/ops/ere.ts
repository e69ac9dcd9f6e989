// expectedRadialError: per-map inference statistics of Contour-Hugging Heatmaps (the reference's evaluate.py):
// the predicted landmark (argmax of the heatmap), its mode probability, and the expected radial error (ERE), all
// computed on the GPU with one workgroup per map (ere.wgsl). No autograd.
import { checkInputs } from './check.ts';
import { isCpuAdapter } from '../engine/device.ts';
import { shapeString, type Tensor } from '../engine/tensor.ts';
import { checkLogitsAndTemperatures, perItemGrid } from './softmax-nll.ts';
import { SHADERS } from '../generated/shaders.ts';

const OP = 'expectedRadialError';

/** The reference's significant-pixel cutoff: pixels with p <= 0.05 * max p are dropped before renormalising. */
export const ERE_CUTOFF = 0.05;

export interface ExpectedRadialErrorOptions {
  /** Pixels with p <= cutoff * max p are dropped before renormalising (the reference's 0.05); in [0, 1). */
  cutoff?: number;
}

export interface ExpectedRadialErrorResult {
  /** [N, L], mm: sum over the kept pixels of p_i * distance(pixel_i, argmax), p renormalised over the kept ones. */
  ere: Tensor;
  /** [N, L]: the map's largest probability. */
  modeProb: Tensor;
  /** i32 [N, L]: flat index y * W + x of the first largest probability in scan order. */
  argmax: Tensor;
}

/**
 * Per map of softmax(logits[n, l] / temperatures[l]) over its H*W pixels: argmax, mode probability and ERE.
 * pixelSizeMm is f32 [N, 2]: mm per pixel in x and in y for each image (distances are anisotropic).
 * A pixel is kept when p > cutoff * max p (strict, as the reference's `heatmap / max > cutoff`).
 */
export function expectedRadialError(
  logits: Tensor,
  temperatures: Tensor,
  pixelSizeMm: Tensor,
  options: ExpectedRadialErrorOptions = {},
): ExpectedRadialErrorResult {
  const { engine, n, l, h, w } = checkLogitsAndTemperatures(OP, logits, temperatures);
  checkInputs(OP, { logits, pixelSizeMm });
  if (pixelSizeMm.shape.length !== 2 || pixelSizeMm.shape[0] !== n || pixelSizeMm.shape[1] !== 2) {
    throw new Error(`${OP}: pixelSizeMm must be [N, 2] = [${n}, 2] (mm per pixel in x and y) for logits ${shapeString(logits.shape)}, got ${shapeString(pixelSizeMm.shape)}`);
  }
  const cutoff = options.cutoff ?? ERE_CUTOFF;
  if (typeof cutoff !== 'number' || !Number.isFinite(cutoff) || cutoff < 0 || cutoff >= 1) {
    throw new Error(`${OP}: cutoff must be a number in [0, 1), got ${cutoff}`);
  }
  const nmaps = n * l;
  const ere = engine.empty([n, l], { label: `${OP}.ere` });
  const modeProb = engine.empty([n, l], { label: `${OP}.modeProb` });
  const argmax = engine.empty([n, l], { label: `${OP}.argmax`, dtype: 'i32' });
  const k = engine.kernel({
    shader: SHADERS.ere,
    entry: 'ere',
    bindings: ['logits', 'temps', 'pixel_mm', 'ere_out', 'mode_out', 'argmax_out', 'params'],
    // One SIMD group on a CPU adapter: its tree reductions then switch no coroutines at their barriers.
    constants: { WG: isCpuAdapter(engine.adapter) ? 4 : 256 },
  });
  engine.run(
    k,
    {
      logits,
      temps: temperatures,
      pixel_mm: pixelSizeMm,
      ere_out: ere,
      mode_out: modeProb,
      argmax_out: argmax,
      params: { hw: h * w, width: w, nmaps, nland: l, cutoff },
    },
    perItemGrid(engine, nmaps),
  );
  return { ere, modeProb, argmax };
}
