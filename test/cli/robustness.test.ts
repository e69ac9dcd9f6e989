// Nothing lost, nothing silent (the command line under adversarial use): temporaries of killed runs cleaned up,
// strict resume, the dataset never written into, non-finite weights refused, missing annotators noticed, and every
// bad file or value refused with a message that names it.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/chh.ts';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.ts';
import { loadModel } from '../../src/io/weights.ts';
import { checkModelFits, MODEL_PRESETS } from '../../src/nn/unet.ts';
import { predictImage } from '../../src/chh/predict.ts';
import { fill } from '../../src/ops/fill.ts';
import { useEngine } from '../helpers/gpu.ts';

const engine = useEngine();
const dir = mkdtempSync(join(tmpdir(), 'chh-robust-'));
const data = join(dir, 'data');
const run = join(dir, 'run');
const weights = join(run, 'weights.safetensors');
const size = ['--size', '64x64'];
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

async function ok(args: string[]): Promise<void> {
  expect(await main(args), `chh ${args.join(' ')}\n${err.join('\n')}`).toBe(0);
}

/** Expects a usage error (exit 2) whose message matches. */
async function refused(args: string[], message: RegExp, code = 2): Promise<void> {
  err = [];
  expect(await main(args), `chh ${args.join(' ')}`).toBe(code);
  expect(err.join('\n')).toMatch(message);
}

const train = (...extra: string[]) => ['train', '--data', data, '--out', run, '--model', 'tiny', ...size, '--batch', '2', '--lr', '0.003', ...extra];

beforeAll(async () => {
  process.env.XDG_CACHE_HOME = join(dir, 'user-cache');
  expect(await main(['synth', '--out', data, '--train', '4', '--test1', '4', '--test2', '2', '--width', '193', '--landmarks', '5'])).toBe(0);
  expect(await main(train('--epochs', '1'))).toBe(0);
});

describe('train', () => {
  it('caches the preprocessed images in the user cache folder, never in the dataset', () => {
    expect(existsSync(join(data, '.chh-cache'))).toBe(false);
    expect(readdirSync(join(dir, 'user-cache', 'chh-webgpu', 'images')).length).toBe(1);
  });

  it('removes what killed runs left behind, and leaves no temporary file of its own', async () => {
    writeFileSync(join(run, '.checkpoint.safetensors.4000000.tmp'), 'half a checkpoint');
    await ok(train('--epochs', '2', '--resume'));
    expect(out.join('\n')).toMatch(/removed 1 temporary file a killed run left/);
    expect(readdirSync(run).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('resume says where it resumed, keeps the whole log, and refuses other settings naming both values', async () => {
    await ok(train('--epochs', '3', '--resume'));
    expect(out.join('\n')).toMatch(/resumed from the checkpoint after epoch 2/);
    const log = JSON.parse(readFileSync(join(run, 'train-log.json'), 'utf8')) as { epochs: { epoch: number }[]; annotators: string[]; size: unknown };
    expect(log.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(log.annotators).toEqual(['400_junior', '400_senior']);
    await refused([...train('--epochs', '4', '--resume'), '--lr', '0.01'], /lr: the checkpoint has 0\.003, this run 0\.01/, 1);
    await refused(['train', '--data', data, '--out', run, '--model', 'tiny', '--size', '96x64', '--batch', '2', '--lr', '0.003', '--epochs', '4', '--resume'], /size: the checkpoint has 64x64, this run 96x64/, 1);
    await refused([...train('--epochs', '4', '--resume'), '--no-augment'], /augment: the checkpoint has on, this run off/, 1);
    await refused([...train('--epochs', '4', '--resume'), '--precision', 'f16'], /precision: the checkpoint has f32, this run f16/, 1);
    await refused([...train('--epochs', '4'), '--precision', 'bf16'], /--precision/);
    await refused(['train', '--data', data, '--out', join(dir, 'empty-run'), '--resume', ...size], /--resume: there is no checkpoint to resume from/);
  });

  it('notices a missing annotator folder, and trains on one annotator only when asked', async () => {
    const partial = join(dir, 'one-annotator');
    cpSync(data, partial, { recursive: true });
    renameSync(join(partial, 'AnnotationsByMD', '400_senior'), join(dir, 'moved-away'));
    await refused(['train', '--data', partial, '--out', join(dir, 'run-one'), '--model', 'tiny', ...size, '--epochs', '1'], /has one annotator folder \(400_junior\).*--annotators 400_junior/s);
    await ok(['train', '--data', partial, '--out', join(dir, 'run-one'), '--model', 'tiny', ...size, '--epochs', '1', '--batch', '2', '--annotators', '400_junior', '--no-cache']);
    const log = JSON.parse(readFileSync(join(dir, 'run-one', 'train-log.json'), 'utf8')) as { annotators: string[] };
    expect(log.annotators).toEqual(['400_junior']);
  });
});

describe('bad files and values are refused by name', () => {
  it('numeric options are validated', async () => {
    await refused(['synth', '--out', join(dir, 'x'), '--seed', 'abc'], /--seed must be an integer >= 0, got abc/);
    await refused(['test', '--data', data, '--weights', weights, '--overlays', 'abc'], /--overlays must be an integer >= 0, got abc/);
    await refused(['train', '--data', data, '--size', '100000x100000'], /--size 100000x100000: .*above 8192 pixels/);
  });

  it('directories, missing files and bad calibration files name the path', async () => {
    await refused(['predict', data, '--weights', weights], /the image .*data is a directory, not a file/);
    await refused(['test', '--data', data, '--weights', run], /--weights .*run is a directory, not a file/);
    // A file Node cannot read whole (over 2 GiB; sparse, so it takes no disk): the error names it.
    const huge = join(dir, 'huge.safetensors');
    writeFileSync(huge, '');
    truncateSync(huge, 2 ** 31 + 16);
    await refused(['test', '--data', data, '--weights', huge], new RegExp(`--weights ${huge}: cannot read it`), 1);
    const bad = join(dir, 'bad-calibration.json');
    writeFileSync(bad, '{ not json');
    await refused(['test', '--data', data, '--weights', weights, '--calibration', bad, ...size], new RegExp(`--calibration ${bad}: .*JSON`));
  });

  it('weights whose metadata is broken say the metadata is invalid', async () => {
    const { tensors, metadata } = parseSafetensors(readFileSync(weights));
    for (const [config, message] of [['not json', /config is not JSON/], ['{}', /inChannels must be a positive integer.*encoderChannels must be 5/]] as const) {
      const file = join(dir, 'broken.safetensors');
      writeFileSync(file, serializeSafetensors(tensors, { ...metadata, config }));
      await refused(['test', '--data', data, '--weights', file, ...size], new RegExp(`the weights' metadata is invalid: .*${message.source}`), 1);
    }
    const file = join(dir, 'odd-size.safetensors');
    writeFileSync(file, serializeSafetensors(tensors, { ...metadata, input_width: '100' }));
    await refused(['test', '--data', data, '--weights', file], /--weights .*odd-size.safetensors: the weights' metadata is invalid: input_width x input_height 100 x 64: .*not a multiple of 32/);
  });

  it('a training checkpoint given to predict is used for its weights and input size', async () => {
    const json = join(dir, 'from-checkpoint.json');
    await ok(['predict', join(data, 'RawImage', 'Test2Data', '009.bmp'), '--weights', join(run, 'checkpoint.safetensors'), '--json', json]);
    expect((JSON.parse(readFileSync(json, 'utf8')) as { landmarks: unknown[] }).landmarks.length).toBe(5);
  });

  it('a broken image names its real path', async () => {
    const image = join(dir, 'broken.bmp');
    writeFileSync(image, 'BM not really');
    await refused(['predict', image, '--weights', weights], new RegExp(`${image}`), 1);
  });
});

describe('non-finite weights and maps', () => {
  it('weights holding NaN are refused at load, naming the tensor', async () => {
    const { tensors, metadata } = parseSafetensors(readFileSync(weights));
    const head = tensors.get('segmentation_head.0.weight')!;
    const poisoned = Float32Array.from(head.data as ArrayLike<number>);
    poisoned[3] = NaN;
    const file = join(dir, 'nan.safetensors');
    writeFileSync(file, serializeSafetensors(new Map([...tensors, ['segmentation_head.0.weight', { ...head, data: poisoned }]]), metadata));
    await refused(['predict', join(data, 'RawImage', 'Test2Data', '009.bmp'), '--weights', file], /segmentation_head\.0\.weight: 1 of \d+ values are not finite \(the first, at 3, is NaN\)/, 1);
  });

  it('a map of non-finite logits is flagged erroneous, never reported as fine', async () => {
    const e = engine();
    const loaded = loadModel(e, readFileSync(weights));
    fill(loaded.state.param('segmentation_head.0.bias'), Number.NaN);
    const image = { data: new Float32Array(64 * 64).fill(100), width: 64, height: 64 };
    const p = await predictImage(e, loaded.model, loaded.state, image, { ereThresholdMm: 1e9 });
    expect(p.landmarks.every((l) => l.erroneous)).toBe(true);
    loaded.dispose();
  });
});

describe('sizes against the adapter', () => {
  it('a model too large for the adapter is refused before anything is allocated, naming the buffer and both sizes', () => {
    const limits = { maxStorageBufferBindingSize: 1 << 30, maxBufferSize: 2 ** 31 } as GPUSupportedLimits;
    expect(() => checkModelFits({ limits }, MODEL_PRESETS.paper, 640, 800, 4)).not.toThrow();
    expect(() => checkModelFits({ limits }, MODEL_PRESETS.paper, 2048, 2048, 4)).toThrow(
      /the model at 2048x2048, batch 4, needs a 2048 MiB GPU buffer for decoder block \d \((input|output)\), above this adapter's maxStorageBufferBindingSize of 1024 MiB/,
    );
  });
});
