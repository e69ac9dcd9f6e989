// conv2d micro-benchmark: GFLOP/s of the forward, dgrad and wgrad implicit GEMMs for a few register tiles.
//   npx tsx scripts/embed-shaders.ts && npx tsx bench/conv-micro.ts [--quick] [--target=N] [tm x tn ...]
// (--target sets conv2dTuning.targetInvocations, which decides how far wgrad splits its K dimension)
// e.g. `npx tsx bench/conv-micro.ts auto 4x4 8x4 8x8r` (auto: the op's own choice per adapter; a trailing r:
// the row-tiled kernels; a trailing s: the row-tiled kernels of the conv2d_subgroups variant, loads shared through
// subgroupBroadcast; f: the forward with its taps unrolled, forward_flat). Without tile arguments it compares the default with five tiles.
// FLOPs counted as 2*N*Cout*Ho*Wo*Cin*kh*kw per GEMM.
import { Engine } from '../src/index.ts';
import { createNodeEngine } from '../src/node/gpu.ts';
import { conv2dKernels } from '../src/ops/conv2d/conv2d.ts';
import { conv2dTuning, type ConvTile } from '../src/ops/conv2d/tuning.ts';

interface Shape {
  name: string;
  N: number;
  C: number;
  Co: number;
  H: number;
  W: number;
  k: number;
  s: number;
  p: number;
}

const SHAPES: Shape[] = [
  { name: 'N=1 64->64 3x3 s1 p1 40x32', N: 1, C: 64, Co: 64, H: 40, W: 32, k: 3, s: 1, p: 1 },
  { name: 'N=1 256->256 3x3 s1 p1 10x8', N: 1, C: 256, Co: 256, H: 10, W: 8, k: 3, s: 1, p: 1 },
  { name: 'N=1 1->64 7x7 s2 p3 160x128 (the stem)', N: 1, C: 1, Co: 64, H: 160, W: 128, k: 7, s: 2, p: 3 },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const target = args.find((a) => a.startsWith('--target='));
const tiles: ((ConvTile & { subgroups?: boolean }) | null)[] = args
  .filter((a) => /^\d+x\d+[rsf]*$/.test(a))
  .map((a) => {
    const [tm, tn] = a.replace(/[rsf]+$/, '').split('x').map(Number);
    const flags = a.replace(/^[\dx]+/, '');
    return { tm: tm as 4 | 8, tn, rows: flags.length > 0, subgroups: flags.includes('s'), flat: flags.includes('f') };
  });
if (args.includes('auto')) tiles.unshift(null);
if (tiles.length === 0) {
  tiles.push(null, { tm: 8, tn: 8, rows: true, subgroups: true }, { tm: 8, tn: 8, rows: true }, { tm: 8, tn: 4, rows: true }, { tm: 8, tn: 4 }, { tm: 4, tn: 4 });
}

/**
 * Per run: the fastest wall time of repeated synced runs, and the mean CPU time of this process (SwiftShader runs
 * the "GPU" on worker threads inside it). The machine is shared, so wall times swing with other processes' load;
 * CPU time barely does, and it measures the kernel's work: GFLOP per CPU-second, with 2 cores, is about half of
 * what an idle machine's wall-clock GFLOP/s would be.
 */
async function time(engine: Engine, fn: () => void, minSeconds: number): Promise<{ wall: number; cpu: number }> {
  engine.scope(() => void fn()); // compile and warm up (returning nothing, so the scope frees the outputs)
  await engine.sync();
  let best = Infinity;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let reps = 0;
  while (reps < 3 || performance.now() - t0 < minSeconds * 1000) {
    const t = performance.now();
    engine.scope(() => void fn());
    await engine.sync();
    best = Math.min(best, performance.now() - t);
    reps++;
  }
  const c = process.cpuUsage(c0);
  return { wall: best / 1000, cpu: (c.user + c.system) / 1e6 / reps };
}

const engine = await createNodeEngine();
const tuning = conv2dTuning(engine);
if (target) tuning.targetInvocations = Number(target.slice('--target='.length));
console.log(`adapter: ${engine.adapter.vendor} ${engine.adapter.architecture} ${engine.adapter.description}`);
for (const sh of SHAPES) {
  const Ho = Math.floor((sh.H + 2 * sh.p - sh.k) / sh.s) + 1;
  const Wo = Math.floor((sh.W + 2 * sh.p - sh.k) / sh.s) + 1;
  const flops = 2 * sh.N * sh.Co * Ho * Wo * sh.C * sh.k * sh.k;
  const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
  const x = engine.tensor(rand(sh.N * sh.C * sh.H * sh.W), [sh.N, sh.C, sh.H, sh.W]);
  const w = engine.tensor(rand(sh.Co * sh.C * sh.k * sh.k), [sh.Co, sh.C, sh.k, sh.k]);
  const dy = engine.tensor(rand(sh.N * sh.Co * Ho * Wo), [sh.N, sh.Co, Ho, Wo]);
  const opts = { stride: sh.s, padding: sh.p };
  console.log(`\n${sh.name}: ${(flops / 1e6).toFixed(1)} MFLOP per GEMM`);
  for (const tile of tiles) {
    Object.assign(tuning, { forward: tile, dgrad: tile, wgrad: tile, subgroups: tile ? Boolean(tile.subgroups) : null });
    const secs = quick ? 0.5 : 2;
    const f = await time(engine, () => conv2dKernels.forward(x, w, null, opts), secs);
    const d = await time(engine, () => conv2dKernels.dgrad(dy, x, w, opts), secs);
    const g = await time(engine, () => conv2dKernels.wgrad(dy, x, w, true, opts), secs);
    const gf = (t: { wall: number; cpu: number }) =>
      `${(flops / t.wall / 1e9).toFixed(2).padStart(5)} GFLOP/s (${(t.wall * 1000).toFixed(0).padStart(3)} ms; ${(flops / t.cpu / 1e9).toFixed(2)} per CPU-s)`;
    const label = tile ? `TM=${tile.tm} TN=${tile.tn} ${(tile.rows ? 'r' : '') + (tile.subgroups ? 's' : '') + (tile.flat ? 'f' : '')}`.padEnd(16) : 'default (auto)  ';
    console.log(`  ${label}  forward ${gf(f)}  dgrad ${gf(d)}  wgrad ${gf(g)}`);
  }
  for (const t of [x, w, dy]) t.dispose();
}
engine.destroy();
