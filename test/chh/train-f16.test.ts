// Training at precision f16 with every conv GEMM on a tile that rounds its operands to f16: a subgroup-matrix tile
// (tensor cores; here their emulation, the same tiling with each builtin replaced by its definition), or a half tile
// (blocks of f16; needs shader-f16), the loss scaled. Against the same run on f32 tiles: the losses stay close and
// fall alike.
import { describe, expect, it } from 'vitest';
import { ResnetUnet, type UnetConfig } from '../../src/nn/unet.ts';
import { loadSyntheticSplit } from '../../src/data/synthetic/dataset.ts';
import { train, type CheckpointStore } from '../../src/chh/train.ts';
import { conv2dTuning, type Conv2dTuning, type SharedTile } from '../../src/ops/conv2d/tuning.ts';
import { useEngine } from '../helpers/gpu.ts';

const engine = useEngine();

const TINY: UnetConfig = { inChannels: 1, landmarks: 4, encoderChannels: [4, 4, 8, 8, 8], encoderBlocks: [1, 1, 1, 1], decoderChannels: [8, 8, 4, 4, 4] };
const store: CheckpointStore = { save: async () => {}, load: async () => null };

describe('training at precision f16 on tiles that round operands to f16', () => {
  const TILES: { name: string; tiles: (t: SharedTile) => Partial<Conv2dTuning>; tile: SharedTile; needs?: string }[] = [
    { name: 'subgroup-matrix tiles (emulated)', tile: { bm: 16, bn: 16, bk: 8, rm: 1, rn: 1, matrix: 8 }, tiles: (t) => ({ forward: t, dgrad: t, wgrad: t, emulateMatrices: true }) },
    { name: 'half tiles', tile: { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2, half: true }, tiles: (t) => ({ forward: t, dgrad: t, wgrad: t }), needs: 'shader-f16' },
  ];
  for (const c of TILES) {
    it(`${c.name}: scales the loss, skips nothing, and its losses follow the f32 tiles' within 1%`, async (ctx) => {
      const e = engine();
      if (c.needs && !e.features.has(c.needs)) ctx.skip(`this adapter has no ${c.needs}`);
      const samples = await loadSyntheticSplit('train', { counts: { train: 4 }, width: 193, landmarks: 4, seed: 5 }, { width: 32, height: 32 });
      const options = { epochs: 3, batch: 4, lr: 1e-2, optimizer: 'adam', milestones: [], gamma: 0.1, seed: 7, augment: null, precision: 'f16' } as const;
      const run = async (tiles: Partial<Conv2dTuning>) => {
        const t = conv2dTuning(e);
        const saved = { ...t };
        Object.assign(t, tiles);
        try {
          const model = new ResnetUnet(TINY);
          const state = model.allocate(e, 2);
          const r = await train({ engine: e, model, state, samples, store, resume: false, options });
          state.dispose();
          return r.epochs;
        } finally {
          Object.assign(t, saved);
        }
      };
      const f32: SharedTile = { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2 };
      const onMatrices = await run(c.tiles(c.tile));
      const onF32 = await run({ forward: f32, dgrad: f32, wgrad: f32 });
      expect(onMatrices.map((x) => [x.lossScale, x.skippedSteps])).toEqual([[2 ** 16, 0], [2 ** 16, 0], [2 ** 16, 0]]);
      onMatrices.forEach((x, i) => expect(Math.abs(x.meanLoss - onF32[i].meanLoss) / onF32[i].meanLoss, `epoch ${i + 1}`).toBeLessThan(0.01));
      expect(onMatrices[2].meanLoss).toBeLessThan(onMatrices[0].meanLoss - 0.2);
      expect(onMatrices[0].meanLoss).not.toBe(onF32[0].meanLoss); // the operands were rounded
    });
  }
});
