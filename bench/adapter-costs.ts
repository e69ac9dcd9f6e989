// What one operation costs on this adapter, for reading the kernel table: a loop of register-tiled multiply-adds
// (TA x TB accumulators, the shape of the conv kernels' inner loop) fed by
//   none    values computed in registers (no memory access): the arithmetic ceiling;
//   gather  every operand loaded from a storage buffer at a computed address;
//   bcast   TA operands loaded, the TB shared ones loaded once per 4 invocations and handed out by
//           subgroupBroadcast (what the conv2d_subgroups kernels do), where the adapter has subgroups.
// On SwiftShader 4 invocations run as the SIMD lanes of one CPU thread: time is reported per lane and iteration,
// and as GFLOP per CPU-second of this process (SwiftShader's threads are ours, so CPU time is the work done,
// whatever else the machine runs).
//   npx tsx bench/adapter-costs.ts
import { requestGpu } from '../src/engine/device.ts';
import { nodeGpu } from '../src/node/gpu.ts';

const ctx = await requestGpu({ gpu: await nodeGpu() });
const device = ctx.device;
const subgroups = ctx.features.has('subgroups') && (ctx.adapter.subgroupMinSize ?? 0) >= 4;
console.log(`adapter: ${ctx.adapter.vendor} ${ctx.adapter.architecture} ${ctx.adapter.description}; subgroups ${subgroups}`);

const N = 1 << 20;
const src = device.createBuffer({ size: N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(src, 0, Float32Array.from({ length: N }, (_, i) => (i % 7) * 0.001));
const lanes = 64 * 256;
const dst = device.createBuffer({ size: lanes * 4, usage: GPUBufferUsage.STORAGE });
const ITER = 256;

type Feed = 'none' | 'gather' | 'bcast';

function shader(ta: number, tb: number, feed: Feed): string {
  const lines: string[] = [];
  if (feed === 'bcast') lines.push('enable subgroups;');
  lines.push(
    '@group(0) @binding(0) var<storage, read> src: array<f32>;',
    '@group(0) @binding(1) var<storage, read_write> dst: array<f32>;',
    '@compute @workgroup_size(64)',
    `fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u${feed === 'bcast' ? ', @builtin(subgroup_invocation_id) sg: u32' : ''}) {`,
  );
  for (let i = 0; i < ta; i++) for (let j = 0; j < tb; j++) lines.push(`  var c${i}_${j} = 0.0;`);
  // 'none': the operands are made once, before the loop, so the loop is multiply-adds and loop control only.
  if (feed === 'none') {
    for (let i = 0; i < ta; i++) lines.push(`  let a${i} = f32(gid.x + ${i}u) * 1e-6;`);
    for (let j = 0; j < tb; j++) lines.push(`  let b${j} = f32(wid.x + ${j}u) * 1e-6;`);
  }
  lines.push(`  for (var it = 0u; it < ${ITER}u; it++) {`, `    let base = (it * 977u + gid.x * 3u) & ${N - 64}u;`, `    let wb = (it * 131u + wid.x * 7u) & ${N - 64}u;`);
  if (feed !== 'none') for (let i = 0; i < ta; i++) lines.push(`    let a${i} = src[base + ${i}u];`);
  for (let j = 0; j < tb; j++) {
    if (feed === 'none') continue;
    else if (feed === 'gather') lines.push(`    let b${j} = src[wb + ${j}u];`);
    else {
      if (j % 4 === 0) lines.push(`    let w${j / 4} = src[wb + ${j}u + (sg & 3u)];`);
      lines.push(`    let b${j} = subgroupBroadcast(w${Math.floor(j / 4)}, ${j % 4}u);`);
    }
  }
  for (let i = 0; i < ta; i++) for (let j = 0; j < tb; j++) lines.push(`    c${i}_${j} = c${i}_${j} + a${i} * b${j};`);
  lines.push('  }', '  var t = 0.0;');
  for (let i = 0; i < ta; i++) for (let j = 0; j < tb; j++) lines.push(`  t = t + c${i}_${j};`);
  lines.push('  dst[gid.x] = t;', '}');
  return lines.join('\n');
}

async function measure(ta: number, tb: number, feed: Feed): Promise<void> {
  const module = device.createShaderModule({ code: shader(ta, tb, feed) });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: feed === 'none' ? [{ binding: 1, resource: { buffer: dst } }] : [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }],
  });
  const run = async () => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(lanes / 64);
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await run(); // compile
  const reps = 3;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) await run();
  const wall = (performance.now() - t0) / reps;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1000 / reps;
  const laneIters = lanes * ITER;
  const loads = feed === 'none' ? 0 : feed === 'gather' ? ta + tb : ta + tb / 4;
  const flop = 2 * ta * tb * laneIters;
  console.log(
    `${`${ta}x${tb}`.padEnd(5)} ${feed.padEnd(6)} loads/iter ${String(loads).padStart(2)}  multiply-adds/iter ${String(ta * tb).padStart(3)}  ` +
      `${((cpu * 1e6) / laneIters).toFixed(1).padStart(6)} ns CPU per lane-iteration  ${(flop / (cpu / 1000) / 1e9).toFixed(2)} GFLOP per CPU-s  (wall ${wall.toFixed(0)} ms)`,
  );
}

for (const [ta, tb] of [
  [8, 8],
  [8, 16],
] as const) {
  for (const feed of ['none', 'gather', 'bcast'] as const) {
    if (feed === 'bcast' && !subgroups) continue;
    await measure(ta, tb, feed);
  }
}
device.destroy();
process.exit(0);
