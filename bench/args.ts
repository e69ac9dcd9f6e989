// Command-line options of `npm run bench` (bench/run.ts). Pure: no GPU, no browser, so the unit test can check it.
import { parseArgs } from 'node:util';
import { MODEL_PRESETS, type ModelPreset } from '../src/nn/unet.ts';
import { TRAINING } from '../src/chh/config.ts';
import { ACTIVATION_STORAGES, type ActivationStorage } from '../src/ops/saved.ts';

export interface BenchConfig {
  runtime: 'browser' | 'node';
  /** Model input height and width (multiples of 32). */
  h: number;
  w: number;
  batch: number;
  /**
   * The UNet both engines build (src/nn/unet.ts's MODEL_PRESETS; `paper` is the ResNet34-UNet). Named --preset,
   * not --model as in `chh train`, because --no-model already skips the model cases.
   */
  preset: ModelPreset;
  /** Timed runs of each model case after one warm-up. */
  reps: number;
  /** Timed runs of each kernel case after warm-up and calibration. */
  kernelReps: number;
  /** Wall-clock target of one timed kernel run: dispatches per sync are chosen to fill about this long. */
  kernelTargetMs: number;
  kernels: boolean;
  model: boolean;
  tfjs: boolean;
  /** Timed runs of the TF.js anchor after one warm-up (it is slow on SwiftShader). */
  tfjsReps: number;
  torch: boolean;
  /** The adapter's peak TFLOP/s (--peak-tflops): conv cases report the fraction of it they reach; null: not given. */
  peakTflops: number | null;
  /** Training steps of the soak run; 0 for none. */
  soak: number;
  /** Tune the model's conv shapes first (src/chh/tune.ts); in Node the winners are saved to the autotune cache. */
  tune: boolean;
  /** How our training step keeps activations for backward (src/ops/saved.ts). */
  precision: ActivationStorage;
  out: string;
  /** BENCHMARKS.md to update, or null (--no-md). */
  md: string | null;
  /** The command line as typed (stated above the table). */
  command: string;
}

export const BENCH_USAGE = `npm run bench -- [options]
  --runtime browser|node   where both engines run (default browser: headless Chromium; node: this process, on Dawn)
  --size HxW               model input, multiples of 32 (default 160x128)
  --batch N                batch size (default 1)
  --preset NAME            the UNet both engines run: paper (default, the ResNet34-UNet), small or tiny (quick checks)
  --reps N                 timed runs per model case after one warm-up (default 3)
  --kernel-reps N          timed runs per kernel case (default 3)
  --kernel-target-ms MS    length of one timed kernel run; dispatches per sync are chosen to fill it (default 150)
  --tfjs-reps N            timed runs of the TF.js anchor after one warm-up (default 1)
  --peak-tflops X          the adapter's peak TFLOP/s (fp32): each conv case also reports the fraction of it
  --no-tfjs                skip the TF.js anchor
  --no-kernels             skip the kernel cases
  --no-model               skip the model cases
  --no-torch               skip the native PyTorch reference
  --soak N                 also run N training steps and report live GPU bytes at the start and the end
  --tune                   first tune the conv kernels for the model's shapes (as chh tune; saved to the autotune cache)
  --precision f32|f16      f16: our step keeps activations in f16, its conv GEMMs may take f16 operands (with --tune: tensor cores
                           where the adapter has them, in Node with CHH_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis)
                           and it scales the loss (default f32; bench/memory.ts compares the storage policies)
  --out FILE               JSON results (default bench/results/latest.json)
  --md FILE | --no-md      markdown file whose benchmark section is rewritten (default BENCHMARKS.md)`;

function positiveNumber(name: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a number > 0, got ${JSON.stringify(v)}`);
  return n;
}

function positiveInt(name: string, v: string | undefined, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

export function parseSize(s: string): { h: number; w: number } {
  const m = /^(\d+)x(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`--size must be HxW (e.g. 160x128), got ${JSON.stringify(s)}`);
  const h = Number(m[1]);
  const w = Number(m[2]);
  if (h < 32 || w < 32 || h % 32 !== 0 || w % 32 !== 0) {
    throw new Error(`--size ${s}: height and width must be multiples of 32 (the UNet downsamples five times)`);
  }
  return { h, w };
}

/** Parses argv (without node and the script). Throws with a readable message on bad input; returns null for --help. */
export function parseBenchArgs(argv: readonly string[]): BenchConfig | null {
  const { values } = parseArgs({
    args: argv.filter((a) => a !== '--no-md'),
    allowNegative: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      runtime: { type: 'string', default: 'browser' },
      size: { type: 'string', default: '160x128' },
      batch: { type: 'string', default: '1' },
      preset: { type: 'string', default: 'paper' },
      reps: { type: 'string', default: '3' },
      'kernel-reps': { type: 'string', default: '3' },
      'kernel-target-ms': { type: 'string', default: '150' },
      'tfjs-reps': { type: 'string', default: '1' },
      'peak-tflops': { type: 'string' },
      tfjs: { type: 'boolean', default: true },
      kernels: { type: 'boolean', default: true },
      model: { type: 'boolean', default: true },
      torch: { type: 'boolean', default: true },
      soak: { type: 'string', default: '0' },
      tune: { type: 'boolean', default: false },
      precision: { type: 'string', default: TRAINING.precision.default },
      out: { type: 'string', default: 'bench/results/latest.json' },
      md: { type: 'string', default: 'BENCHMARKS.md' },
    },
  });
  if (values.help) return null;
  const runtime = values.runtime;
  if (runtime !== 'browser' && runtime !== 'node') throw new Error(`--runtime must be browser or node, got ${JSON.stringify(runtime)}`);
  const { h, w } = parseSize(values.size!);
  const preset = values.preset!;
  if (!Object.hasOwn(MODEL_PRESETS, preset)) throw new Error(`--preset must be one of ${Object.keys(MODEL_PRESETS).join(', ')}, got ${JSON.stringify(preset)}`);
  const mdOff = argv.includes('--no-md');
  const precision = values.precision as ActivationStorage;
  if (!ACTIVATION_STORAGES.includes(precision)) throw new Error(`--precision must be one of ${ACTIVATION_STORAGES.join(', ')}, got ${JSON.stringify(values.precision)}`);
  return {
    runtime,
    h,
    w,
    batch: positiveInt('batch', values.batch),
    preset: preset as ModelPreset,
    reps: positiveInt('reps', values.reps),
    kernelReps: positiveInt('kernel-reps', values['kernel-reps']),
    kernelTargetMs: positiveInt('kernel-target-ms', values['kernel-target-ms']),
    kernels: values.kernels!,
    model: values.model!,
    // The anchor runs where ours does: in the page, or in this process on Dawn (bench/tfjs-node.ts).
    tfjs: values.tfjs!,
    tfjsReps: positiveInt('tfjs-reps', values['tfjs-reps']),
    peakTflops: values['peak-tflops'] === undefined ? null : positiveNumber('peak-tflops', values['peak-tflops']),
    torch: values.torch!,
    soak: positiveInt('soak', values.soak, 0),
    tune: values.tune!,
    precision,
    out: values.out!,
    md: mdOff ? null : values.md!,
    command: ['npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' '),
  };
}

/** "160x128.b1": the size and batch suffix of model case names. */
export function sizeTag(c: { h: number; w: number; batch: number }): string {
  return `${c.h}x${c.w}.b${c.batch}`;
}
