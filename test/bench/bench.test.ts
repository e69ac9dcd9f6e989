// The benchmark's plumbing only (argument parsing, case naming, the JSON rows and the markdown table), on fixed
// inputs: no GPU and no timing. Speed is measured by `npm run bench`, never asserted here.
import { describe, expect, it } from 'vitest';
import { parseBenchArgs, parseSize, sizeTag } from '../../bench/args.ts';
import { buildResults, resultsMarkdown, updateMarkdown, MD_START, MD_END, type TorchResult } from '../../bench/report.ts';
import { convGeometry, convGflop, convName, convShapes, convVariant, modelConvGflop, stats, type OursResult } from '../../bench/ours.ts';
import type { TfjsResult } from '../../bench/tfjs-unet.ts';
import { ResnetUnet, MODEL_PRESETS, RESNET34_UNET } from '../../src/nn/unet.ts';
import type { ConvDevice } from '../../src/ops/conv2d/plan.ts';
import { conv2dTuning } from '../../src/ops/conv2d/tuning.ts';
import type { Engine } from '../../src/engine/engine.ts';

describe('bench arguments', () => {
  it('has the documented defaults', () => {
    const c = parseBenchArgs([])!;
    expect(c).toMatchObject({ runtime: 'browser', h: 160, w: 128, batch: 1, preset: 'paper', tfjs: true, tfjsReps: 1, soak: 0, tune: false, out: 'bench/results/latest.json', md: 'BENCHMARKS.md' });
    expect(c.command).toBe('npm run bench');
  });

  it('parses sizes, counts, switches and keeps the command line', () => {
    const argv = ['--size', '64x96', '--batch', '2', '--tfjs-reps', '2', '--no-kernels', '--soak', '20', '--tune', '--no-md', '--out', 'x.json'];
    const c = parseBenchArgs(argv)!;
    expect(c).toMatchObject({ h: 64, w: 96, batch: 2, tfjsReps: 2, kernels: false, model: true, soak: 20, tune: true, md: null, out: 'x.json' });
    expect(c.command).toBe(`npm run bench -- ${argv.join(' ')}`);
    expect(sizeTag(c)).toBe('64x96.b2');
  });

  it('runs the TF.js anchor in either runtime, unless --no-tfjs', () => {
    expect(parseBenchArgs(['--runtime', 'node'])).toMatchObject({ runtime: 'node', tfjs: true });
    expect(parseBenchArgs(['--runtime', 'node', '--no-tfjs'])!.tfjs).toBe(false);
    expect(parseBenchArgs(['--no-tfjs'])!.tfjs).toBe(false);
    expect(parseBenchArgs(['--help'])).toBeNull();
  });

  it('takes the peak TFLOP/s as a positive number, none by default', () => {
    expect(parseBenchArgs([])!.peakTflops).toBeNull();
    expect(parseBenchArgs(['--peak-tflops', '66.9'])!.peakTflops).toBe(66.9);
    expect(parseBenchArgs(['--peak-tflops=0.5', '--runtime', 'node'])).toMatchObject({ peakTflops: 0.5, runtime: 'node' });
    for (const bad of ['0', '-1', 'fast', '', 'Infinity']) {
      expect(() => parseBenchArgs([`--peak-tflops=${bad}`])).toThrow(/--peak-tflops must be a number > 0/);
    }
    expect(() => parseBenchArgs(['--peak-tflops'])).toThrow();
  });

  it('takes how our step keeps activations, f32 by default', () => {
    expect(parseBenchArgs([])!.precision).toBe('f32');
    expect(parseBenchArgs(['--precision', 'f16'])!.precision).toBe('f16');
    expect(() => parseBenchArgs(['--precision', 'bf16'])).toThrow('--precision must be one of f32, f16, got "bf16"');
  });

  it('takes a model preset by name, apart from --no-model', () => {
    expect(parseBenchArgs(['--preset', 'tiny'])).toMatchObject({ preset: 'tiny', model: true });
    expect(parseBenchArgs(['--preset=small', '--no-model'])).toMatchObject({ preset: 'small', model: false });
    expect(() => parseBenchArgs(['--preset', 'resnet50'])).toThrow('--preset must be one of paper, small, tiny, got "resnet50"');
    expect(() => parseBenchArgs(['--preset', 'toString'])).toThrow(/--preset must be one of/);
  });

  it('rejects bad input with a readable message', () => {
    expect(() => parseSize('160')).toThrow(/HxW/);
    expect(() => parseSize('100x128')).toThrow(/multiples of 32/);
    expect(() => parseBenchArgs(['--batch', '0'])).toThrow(/--batch must be an integer >= 1/);
    expect(() => parseBenchArgs(['--runtime', 'deno'])).toThrow(/browser or node/);
    expect(() => parseBenchArgs(['--frobnicate'])).toThrow();
  });
});

describe('bench cases', () => {
  it('lists every distinct conv of the ResNet34-UNet once, with its count', () => {
    const shapes = convShapes(new ResnetUnet(RESNET34_UNET), 160, 128);
    // 36 convs in the encoder (stem, 16 blocks x 2, 3 projections), 10 in the decoder, the head
    expect(shapes.reduce((n, s) => n + s.count, 0)).toBe(1 + 32 + 3 + 10 + 1);
    expect(new Set(shapes.map((s) => convName('fwd', s))).size).toBe(shapes.length);
    const stem = shapes[0];
    expect(convName('fwd', stem)).toBe('conv.fwd.1x64.k7s2.160x128');
    expect(stem.needsDgrad).toBe(false);
    const l1 = shapes.find((s) => convName('fwd', s) === 'conv.fwd.64x64.k3s1.40x32')!;
    expect(l1.count).toBe(7); // layer1: 3 blocks x 2 convs, and decoder block 2's second conv
    expect(shapes.find((s) => convName('fwd', s) === 'conv.fwd.64x64.k3s1.80x64')).toBeUndefined();
    expect(shapes.find((s) => convName('fwd', s) === 'conv.fwd.128x32.k3s1.80x64')!.count).toBe(1);
    expect(shapes.at(-1)).toMatchObject({ C: 32, Co: 19, k: 3, H: 160, W: 128, bias: true });
  });

  it('names the conv kernel plan.ts chooses for each GEMM, with its constants', () => {
    const shapes = convShapes(new ResnetUnet(RESNET34_UNET), 160, 128);
    const l1 = shapes.find((s) => convName('fwd', s) === 'conv.fwd.64x64.k3s1.40x32')!;
    expect(convGeometry(l1, 2)).toEqual({ N: 2, C: 64, H: 40, W: 32, Co: 64, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, Ho: 40, Wo: 32 });
    // A CPU adapter without subgroups: plan.ts's defaults there are the register tiles of DEFAULT_TILES.
    const cpu: ConvDevice = {
      limits: { maxComputeWorkgroupsPerDimension: 65535, minStorageBufferOffsetAlignment: 256 } as GPUSupportedLimits,
      features: new Set<string>(),
      adapter: { vendor: 'google', architecture: 'swiftshader', device: '', description: '', isFallbackAdapter: true, runtime: 'node' },
    };
    const defaults = conv2dTuning({} as Engine);
    const g = convGeometry(l1, 1);
    expect(convVariant(cpu, defaults, g, 'fwd')).toBe('forward_flat TM8 TN8');
    expect(convVariant(cpu, defaults, g, 'dgrad')).toBe('dgrad_flat TM8 TN8');
    expect(convVariant(cpu, defaults, g, 'wgrad')).toMatch(/^wgrad_rows TM8 TC2 splits\d+$/);
    // A tuning set on the engine (by hand or by the autotuner) is what the name reports.
    expect(convVariant(cpu, { ...defaults, forward: { tm: 4, tn: 2 } }, g, 'fwd')).toBe('forward TM4 TN2');
  });

  it('counts the FLOPs of a conv and of the whole model', () => {
    const shapes = convShapes(new ResnetUnet(RESNET34_UNET), 160, 128);
    // the stem, 1 -> 64 channels, 7x7/2 on 160x128: 2 x 64 x 80 x 64 x 1 x 7 x 7 FLOP per image
    expect(convGflop(shapes[0], 2)).toBeCloseTo((2 * 2 * 64 * 80 * 64 * 49) / 1e9, 12);
    const l1 = shapes.find((s) => convName('fwd', s) === 'conv.fwd.64x64.k3s1.40x32')!;
    expect(convGflop(l1, 1)).toBeCloseTo((2 * 64 * 40 * 32 * 64 * 9) / 1e9, 12);
    const m = modelConvGflop(new ResnetUnet(RESNET34_UNET), 160, 128, 1);
    expect(m.forward).toBeCloseTo(shapes.reduce((a, s) => a + s.count * convGflop(s, 1), 0), 9);
    // a step: forward, dgrad and wgrad of every conv, but no dgrad for the stem
    expect(m.trainStep).toBeCloseTo(3 * m.forward - convGflop(shapes[0], 1), 9);
    // by hand: the encoder ~2.9 GFLOP (ResNet34's 3.6 GMAC at 224x224 and 3 channels, scaled to 160x128 and one
    // channel), the decoder and head 2.58 (e.g. decoder block 0 at 10x8: (768 x 256 + 256 x 256) x 9 x 80 MACs)
    expect(m.forward).toBeGreaterThan(5.3);
    expect(m.forward).toBeLessThan(5.7);
    // linear in the batch; the preset's own channels
    const tiny = new ResnetUnet(MODEL_PRESETS.tiny);
    expect(modelConvGflop(tiny, 160, 128, 2).forward).toBeCloseTo(2 * modelConvGflop(tiny, 160, 128, 1).forward, 12);
    expect(modelConvGflop(tiny, 160, 128, 1).forward).toBeLessThan(m.forward / 10);
  });

  it('takes the median of an even or odd number of runs', () => {
    expect(stats([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, runs: 3 });
    expect(stats([4, 1, 2, 3])).toEqual({ median: 2.5, min: 1, max: 4, runs: 4 });
  });
});

const ours: OursResult = {
  adapter: { vendor: 'google', architecture: 'swiftshader', device: '', description: '', isFallbackAdapter: true, runtime: 'browser' },
  features: ['timestamp-query'],
  limits: { maxStorageBufferBindingSize: 1 << 27, maxBufferSize: 1 << 28 },
  parameters: 24447027,
  cases: [
    { name: 'conv.fwd.64x64.k3s1.40x32', kind: 'kernel', ms: { median: 50, min: 40, max: 60, runs: 3 }, perSync: 2, gflop: 0.1, perStep: 6, variant: 'forward_flat TM8 TN8' },
    { name: 'adam.24447027', kind: 'kernel', ms: { median: 1000, min: 900, max: 1100, runs: 3 }, perSync: 1, gbytes: 0.5, wallMs: 1012 },
    { name: 'unet.forward.160x128.b1', kind: 'model', ms: { median: 2000, min: 1900, max: 2100, runs: 3 }, convGflop: 8 },
    { name: 'unet.train_step.160x128.b1', kind: 'model', ms: { median: 8000, min: 7000, max: 9000, runs: 3 }, convGflop: 24 },
  ],
  memory: { peakLiveBytes: 600 * 2 ** 20, peakAllocatedBytes: 700 * 2 ** 20, liveBytesBeforeStep: 300 * 2 ** 20, createdBuffers: 100, holders: [{ owner: 'decoder.blocks.4.conv2.1', bytes: 40 * 2 ** 20 }], peakAt: { label: 'conv2d.dx in layer segmentation_head.0', owner: 'segmentation_head.0', bytes: 20 * 2 ** 20 } },
  soak: { steps: 10, liveBytesStart: 1000, liveBytesEnd: 1000, liveBytesMin: 1000, liveBytesMax: 1000, samples: 2, createdBuffersStart: 5, createdBuffersEnd: 5, ms: 80000 },
  timing: 'wall clock',
  tuned: null,
};
const tfjs: TfjsResult = {
  version: '4.22.0',
  backend: 'webgpu',
  adapter: null,
  forward_ms: [26000],
  train_step_ms: [100000, 108000],
  forward_warmup_ms: 30000,
  train_step_warmup_ms: 120000,
  peak_bytes: 900 * 2 ** 20,
  gpu_allocated_bytes: 1000 * 2 ** 20,
  parameters: 24447027,
  top_kernels: [],
  loss: 9.7,
  runtime: 'browser',
};
const torch: TorchResult = { torch: '1.13', threads: 2, forward_ms: [400, 500, 450], train_step_ms: [1600], parameters: 24447027 };

describe('bench results', () => {
  const config = parseBenchArgs(['--soak', '10'])!;
  const r = buildResults({ config, ours, tfjs, torch, browser: 'Chrome/156', date: '2026-11-01T00:00:00.000Z', machine: '2 x CPU' });

  it('makes the JSON rows: ours, the anchor, speedup, rates, PyTorch ratio', () => {
    expect(r.adapter).toMatchObject({ vendor: 'google', architecture: 'swiftshader', features: ['timestamp-query'] });
    expect(r.browser).toBe('Chrome/156');
    expect(r.date).toBe('2026-11-01T00:00:00.000Z');
    const fwd = r.cases.find((c) => c.name === 'unet.forward.160x128.b1')!;
    expect(fwd).toMatchObject({ ours_ms: 2000, tfjs_ms: 26000, tfjs_runs: 1, speedup: 13, torch_ms: 450, torch_ratio: 4.444 });
    const step = r.cases.find((c) => c.name === 'unet.train_step.160x128.b1')!;
    expect(step).toMatchObject({ ours_ms: 8000, tfjs_ms: 104000, speedup: 13, torch_ms: 1600, torch_ratio: 5, conv_tflops: 0.003 });
    expect(fwd.conv_tflops).toBe(0.004); // 8 GFLOP in 2 s
    expect(step.conv_peak_fraction).toBeUndefined();
    const conv = r.cases.find((c) => c.name === 'conv.fwd.64x64.k3s1.40x32')!;
    expect(conv).toMatchObject({ ours_ms: 50, gflops: 2, tflops: 0.002, per_step: 6, per_sync: 2, variant: 'forward_flat TM8 TN8' });
    expect(conv.tfjs_ms).toBeUndefined();
    expect(conv.peak_fraction).toBeUndefined(); // no --peak-tflops
    expect(r.cases.find((c) => c.name.startsWith('adam'))).not.toHaveProperty('tflops');
    expect(r.cases.find((c) => c.name.startsWith('adam'))!.gbps).toBe(0.5);
    expect(r.memory).toEqual({
      ours_peak_bytes: 600 * 2 ** 20,
      ours_persistent_bytes: 300 * 2 ** 20,
      ours_peak_holders: [{ owner: 'decoder.blocks.4.conv2.1', bytes: 40 * 2 ** 20 }],
      ours_peak_at: { label: 'conv2d.dx in layer segmentation_head.0', bytes: 20 * 2 ** 20 },
      tfjs_peak_bytes: 900 * 2 ** 20,
      ours_peak_allocated_bytes: 700 * 2 ** 20,
      tfjs_gpu_allocated_bytes: 1000 * 2 ** 20,
    });
    expect(r.profile[0]).toEqual({ name: 'adam.24447027', est_ms_per_step: 1000 });
    expect(r.profile[1]).toEqual({ name: 'conv.fwd.64x64.k3s1.40x32', est_ms_per_step: 300 });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('writes the markdown table with the command above it', () => {
    const md = resultsMarkdown(r);
    expect(md.split('\n').slice(0, 3)).toEqual(['```sh', 'npm run bench -- --soak 10', '```']);
    expect(md).toContain('google / swiftshader');
    expect(md).toContain('| case | ours ms (median) | min-max | runs | TF.js WebGPU ms | speedup vs TF.js | PyTorch CPU ms | ours / PyTorch | ours conv rate |\n');
    expect(md).toContain('| unet.train_step.160x128.b1 | 8000 | 7000-9000 | 3 | 104000 (2 runs) | 13.00x | 1600 | 5.0x slower | 3.00 GFLOP/s |');
    expect(md).toContain('- Model: ResNet34-UNet, 24,447,027 parameters');
    // Kernel cases timed by GPU timestamps carry their wall-clock time in an extra column.
    expect(md).toContain('| conv.fwd.64x64.k3s1.40x32 | 50.0 | 40.0-60.0 | 2.00 GFLOP/s | 2 | 6 | 300 |  | `forward_flat TM8 TN8` |');
    expect(md).toContain('| adam.24447027 | 1000 | 900-1100 | 0.50 GB/s | 1 | 1 | 1000 | 1012 |  |');
    expect(md).toContain('- TF.js: 4.22.0, webgpu backend, in the same page');
    expect(md).toContain('ours 600.0 MiB');
    expect(md).toContain('TF.js 900.0 MiB');
    expect(md).toContain('(ours: 300.0 MiB, precision f32)');
    expect(md).toContain("Held at our step's peak (reached allocating conv2d.dx in layer segmentation_head.0, 20.0 MiB): decoder.blocks.4.conv2.1 40.0 MiB.");
    expect(md).toContain('live GPU bytes 1000 at the start, 1000 at the end, between 1000 and 1000 over 2 samples');
  });

  it('gives TFLOP/s and the fraction of --peak-tflops, and names the Node anchor', () => {
    const gpuOurs: OursResult = {
      ...ours,
      cases: [{ name: 'conv.fwd.512x512.k3s1.25x20', kind: 'kernel', ms: { median: 0.5, min: 0.4, max: 0.6, runs: 3 }, gflop: 10, perStep: 5 }, ...ours.cases.slice(1)],
    };
    const cfg = parseBenchArgs(['--runtime', 'node', '--peak-tflops', '50'])!;
    const rn = buildResults({ config: cfg, ours: gpuOurs, tfjs: { ...tfjs, runtime: 'node' }, torch: null, browser: 'none: Node', date: '2026-11-01T00:00:00.000Z', machine: 'm' });
    expect(rn.config.peakTflops).toBe(50);
    expect(rn.cases[0]).toMatchObject({ gflops: 20000, tflops: 20, peak_fraction: 0.4 });
    expect(rn.cases[0].variant).toBeUndefined();
    // the same-GPU ratios, as in the browser
    expect(rn.cases.find((c) => c.name === 'unet.train_step.160x128.b1')).toMatchObject({ tfjs_ms: 104000, speedup: 13 });
    expect(rn.tfjs).toMatchObject({ runtime: 'node', version: '4.22.0' });
    // the whole step: 24 GFLOP of convs in 8 s against a 50 TFLOP/s peak
    expect(rn.cases.find((c) => c.name === 'unet.train_step.160x128.b1')).toMatchObject({ conv_tflops: 0.003, conv_peak_fraction: 0.00006 });
    const md = resultsMarkdown(rn);
    expect(md).toContain('| kernel case | ms (median) | min-max | rate | of 50 TFLOP/s | per sync | per step | est. ms per step | wall ms |');
    expect(md).toContain('| conv.fwd.512x512.k3s1.25x20 | 0.50 | 0.40-0.60 | 20.0 TFLOP/s | 40.0% |  | 5 | 2.50 |  |');
    expect(md).toContain('| adam.24447027 | 1000 | 900-1100 | 0.50 GB/s |  | 1 | 1 | 1000 | 1012 |');
    expect(md).toContain('- TF.js: 4.22.0, webgpu backend, in the same Node process, on the same Dawn GPU');
    expect(md).toContain('| ours / PyTorch | ours conv rate | of 50 TFLOP/s |');
    expect(md).toContain('| unet.train_step.160x128.b1 | 8000 | 7000-9000 | 3 | 104000 (2 runs) | 13.00x | n/a | n/a | 3.00 GFLOP/s | 0.00600% |');
    const tiny = resultsMarkdown(buildResults({ config: parseBenchArgs(['--preset', 'tiny'])!, ours, tfjs: null, torch: null, browser: 'b', date: 'd', machine: 'm' }));
    expect(tiny).toContain('- Model: UNet preset tiny (src/nn/unet.ts),');
  });

  it('replaces only its own section of BENCHMARKS.md', () => {
    const fresh = updateMarkdown(null, 'TABLE 1');
    expect(fresh).toContain(`${MD_START}\nTABLE 1\n${MD_END}`);
    const edited = fresh.replace('# Benchmarks', '# Benchmarks\n\nhand-written notes');
    const again = updateMarkdown(edited, 'TABLE 2');
    expect(again).toContain('hand-written notes');
    expect(again).toContain('TABLE 2');
    expect(again).not.toContain('TABLE 1');
    expect(updateMarkdown('# Other\n', 'T')).toBe(`# Other\n\n${MD_START}\nT\n${MD_END}\n`);
  });
});
