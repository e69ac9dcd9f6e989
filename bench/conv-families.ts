// The two conv kernel families side by side on one shape (64->64 3x3 at 40x32, batch 1): register tiles (the CPU
// default) against workgroup-memory tiles (the GPU default, a smaller one, and one single- and double-buffered),
// GPU timestamps, fastest of 5.
//   npx tsx bench/conv-families.ts      (docs/decisions.md, "Two families")
import { createNodeEngine } from '../src/node/gpu.ts';
import { conv2dKernels } from '../src/ops/conv2d/conv2d.ts';
import { conv2dTuning, DEFAULT_TILES, GPU_DEFAULT_TILE, type ConvKernel } from '../src/ops/conv2d/tuning.ts';
import { GpuTimer } from '../src/engine/profiler.ts';
const e = await createNodeEngine({ tuneCache: null });
const x = e.zeros([1, 64, 40, 32]); const w = e.zeros([64, 64, 3, 3]); const dy = e.zeros([1, 64, 40, 32]);
const timer = new GpuTimer(e, 8);
const runs: Record<string, () => void> = {
  forward: () => void conv2dKernels.forward(x, w, null, { padding: 1 }),
  dgrad: () => void conv2dKernels.dgrad(dy, x, w, { padding: 1 }),
  wgrad: () => void conv2dKernels.wgrad(dy, x, w, false, { padding: 1 }),
};
const kernels: Record<string, (op: 'forward' | 'dgrad' | 'wgrad') => ConvKernel> = {
  register: (op) => DEFAULT_TILES[op],
  'tiled 64x64x16 r4x4': () => GPU_DEFAULT_TILE,
  'tiled 32x32x16 r4x4': () => ({ bm: 32, bn: 32, bk: 16, rm: 4, rn: 4 }),
  'tiled 64x64x8 r4x4': () => ({ bm: 64, bn: 64, bk: 8, rm: 4, rn: 4 }),
  'tiled 64x64x8 r4x4 double-buffered': () => ({ bm: 64, bn: 64, bk: 8, rm: 4, rn: 4, double: true }),
};
const flop = 2 * 64 * 64 * 9 * 40 * 32;
for (const [name, k] of Object.entries(kernels)) {
  const line: string[] = [];
  for (const op of ['forward', 'dgrad', 'wgrad'] as const) {
    conv2dTuning(e)[op] = k(op);
    e.scope(runs[op]); await e.sync();
    for (let i = 0; i < 5; i++) timer.time(() => e.scope(runs[op]));
    const ms = Math.min(...(await timer.read()));
    line.push(`${op} ${ms.toFixed(1)} ms (${(flop / ms / 1e6).toFixed(2)} GFLOP/s)`);
    conv2dTuning(e)[op] = null;
  }
  console.log(`${name}: ${line.join(', ')}`);
}
