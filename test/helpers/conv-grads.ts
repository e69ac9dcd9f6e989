// One conv2d through the GPU's autograd under a changed conv2dTuning: its output and the gradients of
// sum(conv(x) * r), read back, the engine's tuning restored after.
import { backward, mul, sum, type Engine } from '../../src/index.ts';
import { conv2d } from '../../src/ops/conv2d/conv2d.ts';
import { conv2dTuning, type Conv2dTuning } from '../../src/ops/conv2d/tuning.ts';
import { outSize, type Config, type Data } from './conv-reference.ts';

export type ConvGrads = Record<'y' | 'dx' | 'dw' | 'db', Float32Array | null>;

export async function convGradsWith(e: Engine, c: Config, d: Data, change: Partial<Conv2dTuning>): Promise<ConvGrads> {
  const t = conv2dTuning(e);
  const saved = { ...t };
  Object.assign(t, change);
  try {
    const [Ho, Wo] = outSize(c);
    const x = e.tensor(d.x, [c.N, c.C, c.H, c.W], { requiresGrad: true });
    const w = e.tensor(d.w, [c.Co, c.C, c.kh, c.kw], { requiresGrad: true });
    const b = d.b ? e.tensor(d.b, [c.Co], { requiresGrad: true }) : null;
    const y = e.scope(() => {
      const out = conv2d(x, w, b, { stride: c.stride, padding: c.padding });
      backward(sum(mul(out, e.tensor(d.r, [c.N, c.Co, Ho, Wo]))));
      return out;
    });
    const read = async (v: { read(): Promise<ArrayLike<number>> } | null | undefined) => (v ? ((await v.read()) as Float32Array) : null);
    const out = { y: await read(y), dx: await read(x.grad), dw: await read(w.grad), db: await read(b?.grad) };
    for (const v of [y, x.grad, w.grad, b?.grad, x, w, b]) v?.dispose();
    return out;
  } finally {
    Object.assign(t, saved);
  }
}
