// The chh command line end to end on a tiny configuration: synth -> train -> train --resume --tune -> calibrate ->
// test -> predict, and clear usage errors with exit code 2.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/chh.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'chh-cli-'));
const data = join(dir, 'data');
let out: string[] = [];
let err: string[] = [];

beforeEach(() => {
  out = [];
  err = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
});
afterEach(() => vi.restoreAllMocks());

const common = ['--size', '64x64'];

/** Runs a command and expects exit code 0, showing what it printed otherwise. */
async function ok(args: string[]): Promise<void> {
  const code = await main(args);
  expect(code, `chh ${args.join(' ')}\n${err.join('\n')}`).toBe(0);
}

describe('chh', () => {
  it('prints help and rejects bad usage with exit code 2', async () => {
    await ok(['--help']);
    expect(out.join('\n')).toMatch(/chh train/);
    expect(await main(['nope'])).toBe(2);
    expect(err.join('\n')).toMatch(/unknown command "nope"/);
    expect(await main(['train', '--data', data, '--size', '100x64'])).toBe(2);
    expect(err.join('\n')).toMatch(/--size must be WxH with both multiples of 32/);
    expect(await main(['train', '--data', join(dir, 'missing')])).toBe(2);
    expect(err.join('\n')).toMatch(/does not exist \(make a synthetic set with: chh synth/);
    expect(await main(['calibrate', '--data', data, '--weights', 'w.safetensors', '--objective', 'mse'])).toBe(2);
    expect(err.join('\n')).toMatch(/--objective must be ece or nll, got mse/);
    expect(await main(['calibrate', '--data', data, '--weights', 'w.safetensors', '--augment', '--no-augment'])).toBe(2);
    expect(err.join('\n')).toMatch(/--augment and --no-augment contradict each other/);
    await ok(['calibrate', '--help']);
    expect(out.join('\n')).toMatch(/--objective/);
    expect(await main(['train', '--bogus'])).toBe(2);
    expect(err.join('\n')).toMatch(/Unknown option '--bogus'/);
    // chh bench hands its options to bench/run.ts (a child process), --help included.
    expect(await main(['bench', '--help'])).toBe(0);
  });

  it('synth, train, resume, calibrate, test and predict', async () => {
    await ok(['synth', '--out', data, '--train', '4', '--test1', '4', '--test2', '2', '--width', '193', '--landmarks', '5', '--seed', '3']);
    expect(existsSync(join(data, 'RawImage', 'TrainingData', '001.bmp'))).toBe(true);

    const run = join(dir, 'run');
    // f16 activation storage end to end: recorded in the log, the weights and the calibrated weights.
    const trainArgs = ['train', '--data', data, '--out', run, '--model', 'tiny', ...common, '--batch', '2', '--lr', '0.003', '--precision', 'f16'];
    await ok([...trainArgs, '--epochs', '1']);
    // --tune first tunes the step's conv shapes (vitest sets CHH_TUNE_CACHE=off: nothing is saved).
    await ok([...trainArgs, '--epochs', '2', '--resume', '--tune']);
    expect(out.join('\n')).toMatch(/tuned \d+ conv shapes in [\d.]+ s/);
    expect(out.join('\n')).toMatch(/CHH_TUNE_CACHE=off, the choices hold for this run only/);
    const log = JSON.parse(readFileSync(join(run, 'train-log.json'), 'utf8')) as { epochs: { epoch: number }[]; options: { precision: string } };
    expect(log.epochs.map((e) => e.epoch)).toEqual([1, 2]); // the log of the first call, then the resumed epoch
    expect(log.options.precision).toBe('f16');
    expect(out.join('\n')).toMatch(/precision f16/);
    expect(out.join('\n')).toMatch(/tensor cores: none \(the adapter has no chromium-experimental-subgroup-matrix feature; Dawn in Node exposes it with CHH_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis\): f16 storage and loss scaling only/);
    expect(out.join('\n')).toMatch(/  wgrad f16 2x/); // the training step's shapes tuned as f16 ones
    expect(out.join('\n')).toMatch(/epoch 1: mean loss [\d.]+ \([\d.]+ s, loss scale 65536\)/);
    const weights = join(run, 'weights.safetensors');
    const saved = parseSafetensors(readFileSync(weights));
    expect(saved.tensors.get('segmentation_head.0.bias')!.shape).toEqual([5]);
    expect(JSON.parse(saved.metadata.config).landmarks).toBe(5);
    expect(saved.metadata.precision).toBe('f16');
    expect(saved.tensors.get('segmentation_head.0.weight')!.dtype).toBe('F32'); // weights are always saved as f32

    const cal = join(dir, 'cal');
    await ok(['calibrate', '--data', data, '--weights', weights, '--out', cal, ...common, '--epochs', '2', '--batch', '2']);
    const calibrated = parseSafetensors(readFileSync(join(cal, 'calibrated.safetensors')));
    expect(calibrated.tensors.get('temperatures')!.shape).toEqual([1, 5, 1, 1]);
    expect(calibrated.metadata.precision).toBe('f16');
    expect(out.join('\n')).toMatch(/ECE on the second half: [\d.]+ before, [\d.]+ after \(best epoch \d+; ece objective, first half not augmented\)/);
    expect(JSON.parse(readFileSync(join(cal, 'calibration.json'), 'utf8'))).toMatchObject({ settings: { objective: 'ece', augmented: false }, precision: 'f32' });
    const calNll = join(dir, 'cal-nll');
    await ok(['calibrate', '--data', data, '--weights', weights, '--out', calNll, ...common, '--objective', 'nll', '--epochs', '1', '--batch', '2']);
    expect(JSON.parse(readFileSync(join(calNll, 'calibration.json'), 'utf8')).settings).toMatchObject({ objective: 'nll', augmented: true });

    const test = join(dir, 'test');
    await ok(['test', '--data', data, '--weights', join(cal, 'calibrated.safetensors'), '--calibration', join(cal, 'calibration.json'), '--out', test, ...common, '--overlays', '1', '--precision', 'f16']);
    const results = JSON.parse(readFileSync(join(test, 'results.json'), 'utf8')) as { precision: string; images: unknown[]; summary: { mre: { mean: number } } };
    expect(results.precision).toBe('f16');
    expect(results.images.length).toBe(2);
    expect(results.summary.mre.mean).toBeGreaterThan(0);
    expect(readFileSync(join(test, 'report.html'), 'utf8')).toMatch(/<svg/);
    expect(out.join('\n')).toMatch(/MRE [\d.]+ \+- [\d.]+ mm over 10 landmarks of 2 images/);

    const json = join(dir, 'pred.json');
    const overlay = join(dir, 'pred.png');
    const logits = join(dir, 'logits.safetensors');
    const image = join(data, 'RawImage', 'Test2Data', '009.bmp');
    await ok(['predict', image, '--weights', join(cal, 'calibrated.safetensors'), ...common, '--pixel-size', '1.0', '--json', json, '--overlay', overlay, '--save-logits', logits, '--precision', 'f16']);
    const pred = JSON.parse(readFileSync(json, 'utf8')) as { precision: string; landmarks: { x_px: number; y_px: number; ere_mm: number; erroneous: boolean }[] };
    expect(pred.precision).toBe('f16');
    expect(pred.landmarks.length).toBe(5);
    for (const p of pred.landmarks) {
      expect(p.x_px).toBeGreaterThanOrEqual(0);
      expect(p.x_px).toBeLessThanOrEqual(193);
      expect(p.ere_mm).toBeGreaterThan(0);
    }
    expect(Array.from(readFileSync(overlay).subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
    expect(parseSafetensors(readFileSync(logits)).tensors.get('logits')!.shape).toEqual([1, 5, 64, 64]);
  });

  it('a weights file for another model says what does not match', async () => {
    expect(await main(['test', '--data', data, '--weights', join(dir, 'nope.safetensors'), ...common])).toBe(2);
    expect(err.join('\n')).toMatch(/--weights .* does not exist/);
  });
});
