// Checkpoints: state_dict names and order against PyTorch's (the full-size resnet34 Unet, names from
// scripts/fixtures/unet.py), save/load round trips in smp and CHH naming, format detection, and the single error
// that lists everything missing, unexpected or mismatched (with nothing written).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ResnetUnet, RESNET34_UNET, type UnetConfig } from '../../src/nn/unet.ts';
import { expectedStateDict, loadSafetensors, loadStateDict, saveSafetensors, stateDict, type StateTensor } from '../../src/io/state-dict.ts';
import { parseSafetensors, type SafeTensor } from '../../src/io/safetensors.ts';
import type { ModelState } from '../../src/nn/module.ts';
import { useEngine } from '../helpers/gpu.ts';
import { randomArray } from '../helpers/reference.ts';

const engine = useEngine();
const fixture = JSON.parse(readFileSync(new URL('../fixtures/unet.json', import.meta.url), 'utf8')) as {
  config: UnetConfig;
  resnet34_unet_l19_state_dict: [string, number[]][];
};
const SMALL: UnetConfig = fixture.config;

/** Fills the running statistics with random values and sets num_batches_tracked, so a round trip has content. */
function randomizeBuffers(m: ModelState, seed: number): void {
  let s = seed;
  for (const [name, t] of m.buffers) {
    const v = randomArray(t.size, s++, 0.1, 2);
    engine().write(t, v);
    if (name.endsWith('.running_mean')) m.batchesTracked.set(name.slice(0, -'.running_mean'.length), s * 7);
  }
}

function expectSameDict(a: Map<string, StateTensor>, b: Map<string, StateTensor>): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    expect(u.shape, k).toEqual(t.shape);
    expect(u.dtype, k).toBe(t.dtype);
    expect(Array.from(u.data), k).toEqual(Array.from(t.data));
  }
}

describe('state_dict names', () => {
  it("are exactly PyTorch's for the full-size resnet34 Unet, in PyTorch's order (CHH names)", () => {
    const ours = expectedStateDict(new ResnetUnet(RESNET34_UNET), 'chh').map((e) => [e.name, e.shape]);
    expect(ours).toEqual(fixture.resnet34_unet_l19_state_dict);
  });

  it('smp names are the CHH names without "unet." and without temperatures', () => {
    const model = new ResnetUnet(RESNET34_UNET);
    const smp = expectedStateDict(model, 'smp').map((e) => e.name);
    const chh = expectedStateDict(model, 'chh').map((e) => e.name);
    expect(chh[0]).toBe('temperatures');
    expect(chh.slice(1)).toEqual(smp.map((n) => `unet.${n}`));
    expect(smp).toContain('encoder.layer2.0.downsample.1.running_var');
    expect(smp).toContain('decoder.blocks.3.conv1.0.weight');
    expect(smp).toContain('encoder.bn1.num_batches_tracked');
    expect(smp[smp.length - 1]).toBe('segmentation_head.0.bias');
  });
});

describe('checkpoint round trips', () => {
  it('smp names: save, load into a differently initialised model, read back identical', async () => {
    const e = engine();
    const model = new ResnetUnet(SMALL);
    const a = model.allocate(e, 1);
    const b = model.allocate(e, 2);
    try {
      randomizeBuffers(a, 10);
      const dictA = await stateDict(model, a);
      expect(dictA.get('encoder.conv1.weight')!.shape).toEqual([8, 1, 7, 7]);
      expect(dictA.get('encoder.bn1.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
      const bytes = await saveSafetensors(model, a);
      expect(parseSafetensors(bytes).metadata.format).toBe('pt');
      const result = loadSafetensors(model, b, bytes);
      expect(result).toMatchObject({ format: 'smp', temperatures: null, loaded: dictA.size });
      expectSameDict(dictA, await stateDict(model, b));
      expect(b.batchesTracked).toEqual(a.batchesTracked);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('CHH names with temperatures: [L] in the model, [1, L, 1, 1] in the file', async () => {
    const e = engine();
    const model = new ResnetUnet(SMALL);
    const a = model.allocate(e, 3);
    const b = model.allocate(e, 4);
    const ta = e.tensor([0.5, 1.25, 2], [3], { label: 'temperatures' });
    const tb = e.tensor([1, 1, 1], [3], { label: 'temperatures' });
    try {
      randomizeBuffers(a, 20);
      const dictA = await stateDict(model, a, ta);
      expect([...dictA.keys()][0]).toBe('temperatures');
      expect(dictA.get('temperatures')!.shape).toEqual([1, 3, 1, 1]);
      expect(dictA.get('unet.segmentation_head.0.bias')!.shape).toEqual([3]);
      const bytes = await saveSafetensors(model, a, ta);
      const result = loadSafetensors(model, b, bytes, { temperatures: tb });
      expect(result.format).toBe('chh');
      expect(Array.from(result.temperatures!)).toEqual([0.5, 1.25, 2]);
      expect(Array.from(await tb.read())).toEqual([0.5, 1.25, 2]);
      expectSameDict(dictA, await stateDict(model, b, tb));
      // Explicit formats: chh names load as 'chh'; asking for 'smp' reports every name and hints at the format.
      expect(loadStateDict(model, b, parseSafetensors(bytes).tensors, { format: 'chh' }).format).toBe('chh');
      expect(() => loadSafetensors(model, b, bytes, { format: 'smp' })).toThrow(/is this a chh checkpoint\? pass \{ format: 'chh' \}/);
    } finally {
      a.dispose();
      b.dispose();
      ta.dispose();
      tb.dispose();
    }
  });

  it("loads PyTorch's file (scripts/fixtures/unet.py) with values intact", async () => {
    const e = engine();
    const model = new ResnetUnet(SMALL);
    const m = model.allocate(e, 5);
    const temps = e.tensor([1, 1, 1], [3]);
    try {
      const bytes = readFileSync(new URL('../fixtures/unet.weights.safetensors', import.meta.url));
      const torchDict = parseSafetensors(bytes).tensors;
      const result = loadSafetensors(model, m, bytes, { temperatures: temps });
      expect(result.format).toBe('chh');
      const ours = await stateDict(model, m, temps);
      expect([...ours.keys()]).toEqual([...torchDict.keys()]);
      for (const [k, t] of torchDict) expect(Array.from(ours.get(k)!.data), k).toEqual(Array.from(t.data));
    } finally {
      m.dispose();
      temps.dispose();
    }
  });
});

describe('checkpoint errors', () => {
  it('one error lists every missing, unexpected and mismatched name, and nothing is written', async () => {
    const e = engine();
    const model = new ResnetUnet(SMALL);
    const m = model.allocate(e, 6);
    try {
      const dict = new Map<string, SafeTensor>(await stateDict(model, m));
      const before = Float32Array.from((await m.params.flat.read()) as Float32Array);
      const scrambled = new Map(dict);
      // Make the values different, so a partial write would show.
      for (const [k, t] of scrambled) if (t.dtype === 'F32') scrambled.set(k, { ...t, data: (t.data as Float32Array).map((v) => v + 1) });
      scrambled.delete('encoder.layer1.0.conv2.weight');
      scrambled.delete('decoder.blocks.2.conv1.1.running_var');
      scrambled.set('encoder.fc.weight', { shape: [10, 32], data: new Float32Array(320) });
      scrambled.set('decoder.blocks.0.conv1.0.weight', { shape: [16, 40, 3, 3], data: new Float32Array(16 * 40 * 9) });
      scrambled.set('encoder.bn1.num_batches_tracked', { dtype: 'F32', shape: [], data: [3] });
      scrambled.set('segmentation_head.0.bias', { dtype: 'I32', shape: [3], data: Int32Array.from([1, 2, 3]) });
      let message = '';
      try {
        loadStateDict(model, m, scrambled);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/^loadStateDict: the checkpoint does not match the model \(smp names; 6 problems\):/);
      expect(message).toContain('  missing (2):\n    encoder.layer1.0.conv2.weight [8,8,3,3]\n    decoder.blocks.2.conv1.1.running_var [8]');
      expect(message).toContain('  unexpected (1):\n    encoder.fc.weight [10,32]');
      expect(message).toContain('  shape mismatch (1):\n    decoder.blocks.0.conv1.0.weight: expected [16,48,3,3], got [16,40,3,3]');
      expect(message).toContain('encoder.bn1.num_batches_tracked: expected an integer dtype (I64 or I32), got F32');
      expect(message).toContain('segmentation_head.0.bias: expected a float dtype (F32, F64, F16 or BF16), got I32');
      expect(Array.from((await m.params.flat.read()) as Float32Array)).toEqual(Array.from(before));
    } finally {
      m.dispose();
    }
  });

  it('checks the options and the temperatures tensor before anything else', () => {
    const e = engine();
    const model = new ResnetUnet(SMALL);
    const m = model.allocate(e, 7);
    const wrong = e.tensor([1, 1], [2]);
    try {
      expect(() => loadStateDict(model, m, new Map(), { format: 'pth' as 'smp' })).toThrow(/format must be 'smp', 'chh' or 'auto'/);
      expect(() => loadStateDict(model, m, new Map(), { temperatures: wrong })).toThrow(/temperatures must be an f32 tensor \[L\] = \[3\], got f32 \[2\]/);
      expect(() => loadSafetensors(model, m, new Uint8Array(4))).toThrow(/safetensors: the file is 4 bytes long/);
    } finally {
      m.dispose();
      wrong.dispose();
    }
  });
});
