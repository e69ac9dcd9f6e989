// upsampleNearest2d: F.interpolate(x, scale_factor=s, mode='nearest') for an integer s >= 1 (NCHW).
// upsampleConcat: the U-Net decoder's torch.cat([upsample(x, s), skip], dim=1), with the upsample kernel writing
// straight into its channel slice of the output (no intermediate upsampled tensor) and skip copied after it.
// Neither backward reads an activation; under the recompute policy both save their inputs so that their output,
// which a conv saves, is computed again instead of kept (src/ops/saved.ts).
import { Engine } from '../engine/engine.ts';
import { checkInputs } from './check.ts';
import { shapeString, type Tensor } from '../engine/tensor.ts';
import { copyIntoChannels, sliceChannels } from './concat.ts';
import { SHADERS } from '../generated/shaders.ts';
import { memoryPolicy, recomputable, save, type SavedTensor } from './saved.ts';

function checkScale(op: string, scale: number, x: Tensor): void {
  if (typeof scale !== 'number' || !Number.isInteger(scale) || scale < 1) {
    throw new Error(`${op}: scale must be an integer >= 1, got ${scale} (input ${shapeString(x.shape)}); only integer nearest upsampling is supported`);
  }
}

function check4d(op: string, name: string, t: Tensor): void {
  if (t.shape.length !== 4) throw new Error(`${op}: ${name} must be 4-D [N, C, H, W], got ${shapeString(t.shape)}`);
}

/** Records out[:, cOff : cOff + C] = upsample(x, s) for x [N, C, H, W] and out [N, cTotal, sH, sW]. */
function upsampleInto(x: Tensor, out: Tensor, s: number, cOff: number): void {
  const e = Engine.of(x);
  const [n, c, h, w] = x.shape;
  const k = e.kernel({ shader: SHADERS.upsample, entry: 'forward', bindings: ['x', 'out', 'params'] });
  const count = n * c * h * s * w * s;
  e.run(k, { x, out, params: { n: count, c, h, w, s, c_off: cOff, c_total: out.shape[1] } }, e.grid1d(count, k));
}

/** The gradient of x [N, C, H, W] from channels [cOff, cOff + C) of dout [N, cTotal, sH, sW]. */
function upsampleBackward(dout: Tensor, x: Tensor, s: number, cOff: number, label: string): Tensor {
  const e = Engine.of(x);
  const [, c, h, w] = x.shape;
  const dx = e.empty(x.shape, { label });
  const k = e.kernel({ shader: SHADERS.upsample, entry: 'backward', bindings: ['dout', 'dx', 'params'] });
  e.run(k, { dout, dx, params: { n: dx.size, c, h, w, s, c_off: cOff, c_total: dout.shape[1] } }, e.grid1d(dx.size, k));
  return dx;
}

/**
 * The inputs saved so that the output can be recomputed (the backward itself needs none of them): only under the
 * recompute policy and when the op is recorded; null otherwise.
 */
function recomputeInputs(inputs: Tensor[]): SavedTensor[] | null {
  const e = Engine.of(inputs[0]);
  return memoryPolicy(e).recompute && e.tape.willRecord(inputs) ? inputs.map(save) : null;
}

/** [N, C, s H, s W]: out[:, :, y, x] = x[:, :, floor(y / s), floor(x / s)]. */
export function upsampleNearest2d(x: Tensor, scale: number): Tensor {
  const op = 'upsampleNearest2d';
  const engine = checkInputs(op, { x });
  check4d(op, 'input', x);
  checkScale(op, scale, x);
  const [n, c, h, w] = x.shape;
  const upsample = (xv: Tensor): Tensor => {
    const out = engine.empty([n, c, h * scale, w * scale], { label: op });
    upsampleInto(xv, out, scale, 0);
    return out;
  };
  const out = upsample(x);
  const saved = recomputeInputs([x]);
  if (saved) recomputable(out, saved, ([xv]) => upsample(xv));
  return engine.tape.record(op, [x], out, (g) => [upsampleBackward(g, x, scale, 0, `${op}.dx`)], saved ?? []);
}

/**
 * cat([upsampleNearest2d(x, scale), skip], dim=1): x [N, Cx, H, W] and skip [N, Cs, scale H, scale W] give
 * [N, Cx + Cs, scale H, scale W].
 */
export function upsampleConcat(x: Tensor, skip: Tensor, scale = 2): Tensor {
  const op = 'upsampleConcat';
  const engine = checkInputs(op, { x, skip });
  check4d(op, 'x', x);
  check4d(op, 'skip', skip);
  checkScale(op, scale, x);
  const [n, cx, h, w] = x.shape;
  const [ns, cs, hs, ws] = skip.shape;
  if (ns !== n || hs !== h * scale || ws !== w * scale) {
    throw new Error(
      `${op}: skip ${shapeString(skip.shape)} must be [${n}, C, ${h * scale}, ${w * scale}] for x ${shapeString(x.shape)} ` +
        `upsampled x${scale} (same N, H and W exactly ${scale}x those of x)`,
    );
  }
  const join = (xv: Tensor, skipv: Tensor): Tensor => {
    const out = engine.empty([n, cx + cs, hs, ws], { label: op });
    upsampleInto(xv, out, scale, 0);
    copyIntoChannels(skipv, out, cx);
    return out;
  };
  const out = join(x, skip);
  const saved = recomputeInputs([x, skip]);
  if (saved) recomputable(out, saved, ([xv, skipv]) => join(xv, skipv));
  const backward = (g: Tensor) => [
    x.requiresGrad ? upsampleBackward(g, x, scale, 0, `${op}.dx`) : null,
    skip.requiresGrad ? sliceChannels(g, cx, cs, `${op}.dskip`) : null,
  ];
  return engine.tape.record(op, [x, skip], out, backward, saved ?? []);
}
