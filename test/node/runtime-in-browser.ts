// Runs inside headless Chromium (called through harness/index.html by test/browser.test.ts): the same engine, on
// the browser's own WebGPU, computes a small forward/backward/Adam step whose numbers the Node side checks.
import { Engine, add, mul, relu, mean, backward, Adam } from '../../src/index.ts';

export interface BrowserRunResult {
  adapter: { vendor: string; architecture: string; runtime: string };
  hasNavigatorGpu: boolean;
  loss: number;
  grad: number[];
  weightAfterAdam: number[];
  disposedError: string;
}

export async function runtimeRoundTrip(input: { x: number[]; w: number[] }): Promise<BrowserRunResult> {
  const e = await Engine.create();
  try {
    const n = input.x.length;
    const x = e.tensor(input.x, [n], { label: 'x' });
    const w = e.tensor(input.w, [n], { label: 'w', requiresGrad: true });
    const loss = e.scope(() => {
      const l = mean(add(relu(mul(x, w)), w));
      backward(l);
      return l;
    });
    const lossValue = await loss.item();
    const grad = Array.from(await w.grad!.read());
    const opt = new Adam([w], { lr: 0.1 });
    opt.step();
    const weightAfterAdam = Array.from(await w.read());
    x.dispose();
    let disposedError = '';
    try {
      relu(x);
    } catch (err) {
      disposedError = (err as Error).message;
    }
    return {
      adapter: e.adapter,
      hasNavigatorGpu: typeof navigator !== 'undefined' && 'gpu' in navigator,
      loss: lossValue,
      grad,
      weightAfterAdam,
      disposedError,
    };
  } finally {
    e.destroy();
  }
}
