// maxPool2d: 2-D max pooling (NCHW), PyTorch's F.max_pool2d without dilation or ceil_mode. The forward pass
// saves where in its window each output's max was (one byte per output, four to a u32 word: maxpool.wgsl); the
// backward pass is a gather without atomics (each input element sums the gradients of the windows that chose it).
import { checkInputs } from './check.ts';
import { shapeString, type Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';

/** The largest window: its positions (< kernel^2) fit the byte each output's is saved in. */
const MAX_KERNEL = 16;

export interface MaxPool2dOptions {
  /** Square window size (default 3), at most 16 (a window position is saved in one byte). */
  kernel?: number;
  /** Step between windows (default 2). */
  stride?: number;
  /** Implicit -infinity padding on every side (default 1); at most kernel / 2 (integer division), as in PyTorch. */
  padding?: number;
}

/** Output [N, C, OH, OW] with OH = floor((H + 2 padding - kernel) / stride) + 1 (likewise OW). */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions = {}): Tensor {
  const op = 'maxPool2d';
  const engine = checkInputs(op, { x });
  const { kernel: k = 3, stride = 2, padding: pad = 1 } = options;
  if (x.shape.length !== 4) throw new Error(`${op}: input must be 4-D [N, C, H, W], got ${shapeString(x.shape)}`);
  for (const [name, v, min] of [['kernel', k, 1], ['stride', stride, 1], ['padding', pad, 0]] as const) {
    if (!Number.isInteger(v) || v < min) {
      throw new Error(`${op}: ${name} must be an integer >= ${min}, got ${v} (input ${shapeString(x.shape)})`);
    }
  }
  if (k > MAX_KERNEL) throw new Error(`${op}: kernel must be at most ${MAX_KERNEL} (the backward's window positions are saved in one byte), got ${k}`);
  if (pad > Math.floor(k / 2)) {
    throw new Error(`${op}: padding ${pad} must be at most half the kernel size ${k} (PyTorch's rule: padding <= ${Math.floor(k / 2)}), input ${shapeString(x.shape)}`);
  }
  const [n, c, h, w] = x.shape;
  if (h + 2 * pad < k || w + 2 * pad < k) {
    throw new Error(`${op}: kernel ${k}x${k} is larger than the padded input ${h + 2 * pad}x${w + 2 * pad} (input ${shapeString(x.shape)}, padding ${pad})`);
  }
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  const geometry = { h, w, oh, ow, k, stride, pad };

  const y = engine.empty([n, c, oh, ow], { label: op });
  const words = Math.ceil(y.size / 4);
  const positions = engine.empty([words], { label: `${op}.positions`, dtype: 'i32' });
  const fk = engine.kernel({ shader: SHADERS.maxpool, entry: 'forward', bindings: ['x', 'y', 'positions', 'params'] });
  engine.run(fk, { x, y, positions, params: { n: y.size, words, ...geometry } }, engine.grid1d(words, fk));

  engine.tape.record(op, [x], y, (gy) => {
    const dx = engine.empty(x.shape, { label: `${op}.dx` });
    const bk = engine.kernel({ shader: SHADERS.maxpool, entry: 'backward', bindings: ['dy', 'saved', 'dx', 'params'] });
    engine.run(bk, { dy: gy, saved: positions, dx, params: { n: dx.size, words, ...geometry } }, engine.grid1d(dx.size, bk));
    // The tape is consumed by one backward pass: the saved positions are no longer needed (recorded work that
    // reads them runs before any later reuse of the buffer).
    positions.dispose();
    return [dx];
  });
  // Not recorded (no input needs a gradient, or noGrad): nobody will read the positions.
  if (!y.requiresGrad) positions.dispose();
  return y;
}
