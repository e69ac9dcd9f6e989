// What `precision` sets on an engine (src/chh/precision.ts), and that f16 without a tuned f16 choice runs the same
// kernels as f32: the same result, bit for bit, on an adapter without subgroup matrices.
import { describe, expect, it } from 'vitest';
import { f16OverflowWarning, gradientsMayRoundToF16, inPrecision, tensorCoreNote, usePrecision } from '../../src/chh/precision.ts';
import { f16RangeFlag } from '../../src/ops/f16-range.ts';
import { conv2d } from '../../src/ops/conv2d/conv2d.ts';
import { conv2dTuning } from '../../src/ops/conv2d/tuning.ts';
import { memoryPolicy } from '../../src/ops/saved.ts';
import { scalingNote } from '../../src/chh/checkpoint.ts';
import { useEngine } from '../helpers/gpu.ts';

const engine = useEngine();

describe('precision', () => {
  it('f16 keeps activations in f16 and allows f16 operands in every conv GEMM; the restore puts back what was', () => {
    const e = engine();
    expect(gradientsMayRoundToF16(e)).toBe(false);
    const restore = usePrecision(e, 'f16');
    expect(memoryPolicy(e).storage).toBe('f16');
    expect([...conv2dTuning(e).f16Ops].sort()).toEqual(['dgrad', 'forward', 'wgrad']);
    expect(gradientsMayRoundToF16(e)).toBe(true);
    expect(inPrecision(e, 'f32', () => memoryPolicy(e).storage)).toBe('f32');
    expect(memoryPolicy(e).storage).toBe('f16');
    restore();
    expect(memoryPolicy(e).storage).toBe('f32');
    expect(conv2dTuning(e).f16Ops.size).toBe(0);
    expect(inPrecision(e, undefined, () => memoryPolicy(e).storage)).toBe('f32');
  });

  it('says why this adapter offers no tensor cores, with a hint where one is given, and whether half tiles instead', () => {
    const e = engine();
    const base = [...e.features].filter((f) => f !== 'shader-f16' && f !== 'chromium-experimental-subgroup-matrix');
    const device = (extra: string[]) => ({ adapter: e.adapter, limits: e.limits, features: new Set([...base, ...extra]) });
    expect(tensorCoreNote(device([]))).toBe('tensor cores: none (the adapter has no chromium-experimental-subgroup-matrix feature): f16 storage and loss scaling only');
    expect(tensorCoreNote(device([]), 'try X')).toMatch(/feature; try X\): f16 storage/);
    expect(tensorCoreNote(device(['shader-f16']))).toBe(
      'tensor cores: none (the adapter has no chromium-experimental-subgroup-matrix feature): half tiles (f16 blocks, f32 arithmetic) offered to the autotuner for the f16 shapes',
    );
  });

  it('warns after inference that rounded a value beyond f16, once', async () => {
    const e = engine();
    expect(await f16OverflowWarning(e)).toBeNull();
    e.write(f16RangeFlag(e), Int32Array.of(1)); // as a matrix tile would
    expect(await f16OverflowWarning(e)).toMatch(/beyond f16's range \(65504\) was rounded in the forward pass.*--precision f32/);
    expect(await f16OverflowWarning(e)).toBeNull();
  });

  it("an epoch's log line ends with its loss scaling, and nothing without it", () => {
    const epoch = { epoch: 3, meanLoss: 2.5, lr: 1e-3, seconds: 12.1 };
    expect(scalingNote(epoch)).toBe('');
    expect(scalingNote({ ...epoch, lossScale: 65536, skippedSteps: 0 })).toBe(', loss scale 65536');
    expect(scalingNote({ ...epoch, lossScale: 32768, skippedSteps: 1 })).toBe(', loss scale 32768, 1 step skipped (f16 overflow)');
    expect(scalingNote({ ...epoch, lossScale: 16384, skippedSteps: 2 })).toBe(', loss scale 16384, 2 steps skipped (f16 overflow)');
  });

  it('f16 inference without a tuned f16 choice computes what f32 does', async () => {
    const e = engine();
    const x = e.tensor(Array.from({ length: 2 * 3 * 7 * 6 }, (_, i) => Math.sin(i) * 3), [2, 3, 7, 6]);
    const w = e.tensor(Array.from({ length: 5 * 3 * 9 }, (_, i) => Math.cos(i) / 4), [5, 3, 3, 3]);
    const forward = () => e.noGrad(() => conv2d(x, w, null, { padding: 1 }));
    const f32 = forward();
    const f16 = inPrecision(e, 'f16', forward);
    expect(Array.from(await f16.read())).toEqual(Array.from(await f32.read()));
    for (const t of [x, w, f32, f16]) t.dispose();
  });
});
