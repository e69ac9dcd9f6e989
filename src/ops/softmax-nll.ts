// softmaxNll: the Contour-Hugging Heatmaps loss. Each map of logits [N, L, H, W] is divided by its landmark's
// temperature, turned into a probability map by a softmax over all H*W pixels, and scored by the negative
// log-likelihood of its target pixel; the loss is the mean over the N*L maps (the reference's two_d_softmax and
// nll_across_batch with a one-hot target). One fused launch per call computes, per map, the loss and (when
// gradients are needed) the gradients for an upstream gradient of 1; backward only scales them. See
// softmax_nll.wgsl for the kernels and the precision argument.
import { checkInputs } from './check.ts';
import { Tensor, shapeString } from '../engine/tensor.ts';
import type { Engine } from '../engine/engine.ts';
import { foldedGrid, type Kernel } from '../engine/kernel.ts';
import { SHADERS } from '../generated/shaders.ts';

const OP = 'softmaxNll';

/** Workgroup counts for one workgroup per item, folded into y past the per-dimension limit. */
export function perItemGrid(engine: Engine, items: number): [number, number, number] {
  return foldedGrid(items, engine.limits.maxComputeWorkgroupsPerDimension);
}

/**
 * Checks logits [N, L, H, W] and temperatures [L] (both f32, live, same engine); returns the engine and shape.
 * Shared with expectedRadialError.
 */
export function checkLogitsAndTemperatures(op: string, logits: Tensor, temperatures: Tensor): { engine: Engine; n: number; l: number; h: number; w: number } {
  const engine = checkInputs(op, { logits, temperatures });
  if (logits.shape.length !== 4) {
    throw new Error(`${op}: logits must be 4-D [N, L, H, W], got ${shapeString(logits.shape)}`);
  }
  const [n, l, h, w] = logits.shape;
  if (temperatures.shape.length !== 1 || temperatures.shape[0] !== l) {
    throw new Error(`${op}: temperatures must be [L] = [${l}] for logits ${shapeString(logits.shape)}, got ${shapeString(temperatures.shape)}`);
  }
  return { engine, n, l, h, w };
}

/** The targets as an i32 [N, L] tensor: an Int32Array is checked on the CPU and uploaded, a Tensor checked by shape. */
function targetTensor(engine: Engine, logits: Tensor, targets: Tensor | Int32Array): Tensor {
  const [n, l, h, w] = logits.shape;
  const nmaps = n * l;
  const hw = h * w;
  if (targets instanceof Int32Array) {
    if (targets.length !== nmaps) {
      throw new Error(`${OP}: targets must hold N*L = ${nmaps} indices for logits ${shapeString(logits.shape)}, got ${targets.length}`);
    }
    for (let i = 0; i < nmaps; i++) {
      const v = targets[i];
      if (v < 0 || v >= hw) {
        throw new Error(
          `${OP}: target ${v} of map (n=${Math.floor(i / l)}, l=${i % l}) is outside [0, H*W) = [0, ${hw}) for logits ${shapeString(logits.shape)}`,
        );
      }
    }
    return engine.tensor(targets, [n, l], { label: `${OP}.targets` });
  }
  if (targets instanceof Tensor) {
    checkInputs(OP, { targets }, 'i32');
    if (targets.engine !== engine) throw new Error(`${OP}: targets belongs to another engine (device)`);
    if (targets.shape.length !== 2 || targets.shape[0] !== n || targets.shape[1] !== l) {
      throw new Error(`${OP}: targets must be i32 [N, L] = [${n}, ${l}] for logits ${shapeString(logits.shape)}, got ${shapeString(targets.shape)}`);
    }
    return targets;
  }
  const kind = targets === null ? 'null' : ((targets as object)?.constructor?.name ?? typeof targets);
  throw new Error(`${OP}: targets must be an i32 Tensor [N, L] or an Int32Array, got ${kind}`);
}

export interface SoftmaxNllOptions {
  /**
   * This is the logits' last use: softmaxNll disposes them, and where it computes their gradient and can take
   * their buffer (Tensor.canGiveBuffer) it writes the gradient over them, so a training step never holds both.
   */
  consume?: boolean;
}

/**
 * Mean over the N*L maps of -log softmax(logits[n, l] / temperatures[l])[targets[n, l]], as a [1] tensor.
 *
 * - logits: f32 [N, L, H, W]; temperatures: f32 [L] (must be non-zero; the network trains with T = 1 frozen,
 *   temperature scaling later fits T with the network frozen: both get gradients when they require them).
 * - targets: the target pixel of each map as a flat index y * W + x, either an i32 Tensor [N, L] or an Int32Array
 *   of N*L values. An Int32Array is checked on the CPU (an index outside [0, H*W) throws before any dispatch);
 *   a Tensor lives on the GPU and cannot be checked without a read, so an out-of-range index there makes that
 *   map's loss and gradients NaN (the returned mean is NaN).
 */
export function softmaxNll(logits: Tensor, temperatures: Tensor, targets: Tensor | Int32Array, options: SoftmaxNllOptions = {}): Tensor {
  const { engine, n, l, h, w } = checkLogitsAndTemperatures(OP, logits, temperatures);
  const nmaps = n * l;
  const hw = h * w;
  const tgt = targetTensor(engine, logits, targets);
  const needLogits = engine.gradEnabled && logits.requiresGrad;
  const needTemps = engine.gradEnabled && temperatures.requiresGrad;
  const params = { hw, nmaps, nland: l, inv_count: 1 / nmaps };
  const grid = perItemGrid(engine, nmaps);
  const losses = engine.empty([nmaps], { label: `${OP}.losses` });
  let grad: Tensor | null = null;
  let dtmap: Tensor | null = null;
  const base = ['logits', 'temps', 'tgts', 'losses', 'params'];
  if (needLogits && options.consume && logits.canGiveBuffer) {
    dtmap = engine.empty([nmaps], { label: `${OP}.dtmap` });
    const k = engine.kernel({ shader: SHADERS.softmax_nll_in_place, entry: 'forward_grad', bindings: [...base, 'dtmap'] });
    engine.run(k, { logits, temps: temperatures, tgts: tgt, losses, dtmap, params }, grid);
    grad = engine.adopt(logits, logits.shape, `${OP}.dlogits`);
  } else if (needLogits) {
    grad = engine.empty(logits.shape, { label: `${OP}.dlogits` });
    dtmap = engine.empty([nmaps], { label: `${OP}.dtmap` });
    const k = engine.kernel({ shader: SHADERS.softmax_nll, entry: 'forward_grad', bindings: [...base, 'grad', 'dtmap'] });
    engine.run(k, { logits, temps: temperatures, tgts: tgt, losses, grad, dtmap, params }, grid);
  } else if (needTemps) {
    dtmap = engine.empty([nmaps], { label: `${OP}.dtmap` });
    const k = engine.kernel({ shader: SHADERS.softmax_nll, entry: 'forward_dt', bindings: [...base, 'dtmap'] });
    engine.run(k, { logits, temps: temperatures, tgts: tgt, losses, dtmap, params }, grid);
  } else {
    const k = engine.kernel({ shader: SHADERS.softmax_nll, entry: 'forward', bindings: base });
    engine.run(k, { logits, temps: temperatures, tgts: tgt, losses, params }, grid);
  }
  if (tgt !== targets) tgt.dispose();
  if (options.consume) logits.dispose();

  const loss = engine.empty([1], { label: OP });
  const mk: Kernel = engine.kernel({ shader: SHADERS.softmax_nll, entry: 'mean_losses', bindings: ['losses', 'out', 'params'] });
  engine.run(mk, { losses, out: loss, params }, [1, 1, 1]);
  losses.dispose();

  if (!needLogits && !needTemps) return loss;
  return engine.tape.record(OP, [logits, temperatures], loss, (gout) => {
    let dtemp: Tensor | null = null;
    if (temperatures.requiresGrad && dtmap) {
      dtemp = engine.empty([l], { label: `${OP}.dtemperatures` });
      const k = engine.kernel({ shader: SHADERS.softmax_nll, entry: 'temp_grad', bindings: ['dtmap', 'gout', 'dtemp', 'params'] });
      engine.run(k, { dtmap, gout, dtemp, params }, [Math.ceil(l / k.workgroupSize[0]), 1, 1]);
    }
    dtmap?.dispose();
    let dlogits: Tensor | null = null;
    if (grad) {
      if (logits.requiresGrad) {
        // The saved gradient (for an upstream gradient of 1) is scaled in place and handed over: the tape is
        // consumed by one backward pass, so nothing else reads it.
        const k = engine.kernel({ shader: SHADERS.softmax_nll, entry: 'scale_grad', bindings: ['grad', 'gout', 'params'] });
        engine.run(k, { grad, gout, params }, engine.grid1d(grad.size, k));
        dlogits = grad;
      } else grad.dispose();
    }
    return [dlogits, dtemp];
  });
}
