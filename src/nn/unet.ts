// smp.Unet with a ResNet encoder, as the CHH paper uses it (encoder "resnet34", 1 input channel, decoder channels
// 256,128,64,32,32, a 3x3 head with bias giving one logit map per landmark). Parameter names are exactly smp's
// state_dict names. Widths and depths are configurable, so a tiny version trains on a CPU-only machine.
import { add } from '../ops/add.ts';
import { relu } from '../ops/relu.ts';
import type { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { shapeString } from '../engine/tensor.ts';
import { maxPool2d } from '../ops/maxpool.ts';
import { upsampleConcat, upsampleNearest2d } from '../ops/upsample.ts';
import { BatchNorm2d, Builder, Conv2d, ModelState } from './module.ts';

export interface UnetConfig {
  inChannels: number;
  landmarks: number;
  /** Output channels of the stem and of layer1..layer4 (resnet34: 64, 64, 128, 256, 512). */
  encoderChannels: readonly [number, number, number, number, number];
  /** BasicBlocks in layer1..layer4 (resnet34: 3, 4, 6, 3). */
  encoderBlocks: readonly [number, number, number, number];
  /** Output channels of the five decoder blocks (the paper: 256, 128, 64, 32, 32). */
  decoderChannels: readonly [number, number, number, number, number];
}

export const RESNET34_UNET: UnetConfig = {
  inChannels: 1,
  landmarks: 19,
  encoderChannels: [64, 64, 128, 256, 512],
  encoderBlocks: [3, 4, 6, 3],
  decoderChannels: [256, 128, 64, 32, 32],
};

// torchvision's ResNet init: kaiming_normal_(mode='fan_out', nonlinearity='relu').
const resnetConvInit = (outC: number, k: number) => ({ kind: 'normal' as const, std: Math.sqrt(2 / (outC * k * k)) });
// smp's decoder init: kaiming_uniform_(mode='fan_in', nonlinearity='relu').
const decoderConvInit = (inC: number, k: number) => ({ kind: 'uniform' as const, bound: Math.sqrt(6 / (inC * k * k)) });

/**
 * Disposes `used` (its last use was computing `result`) and returns `result`: the forward pass frees each tensor
 * as soon as it can, and whatever a backward needs of it was saved by the op that read it (src/ops/saved.ts).
 */
function lastUse(used: Tensor, result: Tensor): Tensor {
  used.dispose();
  return result;
}

class BasicBlock {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: { conv: Conv2d; bn: BatchNorm2d } | null;

  constructor(
    b: Builder,
    readonly name: string,
    inC: number,
    outC: number,
    stride: number,
  ) {
    this.conv1 = new Conv2d(b, `${name}.conv1`, inC, outC, 3, { stride, padding: 1, init: resnetConvInit(outC, 3) });
    this.bn1 = new BatchNorm2d(b, `${name}.bn1`, outC);
    this.conv2 = new Conv2d(b, `${name}.conv2`, outC, outC, 3, { padding: 1, init: resnetConvInit(outC, 3) });
    this.bn2 = new BatchNorm2d(b, `${name}.bn2`, outC);
    this.downsample =
      stride !== 1 || inC !== outC
        ? {
            conv: new Conv2d(b, `${name}.downsample.0`, inC, outC, 1, { stride, init: resnetConvInit(outC, 1) }),
            bn: new BatchNorm2d(b, `${name}.downsample.1`, outC),
          }
        : null;
  }

  /** Every tensor made here is disposed at its last use (what backward needs of it is saved: src/ops/saved.ts). */
  forward(m: ModelState, x: Tensor): Tensor {
    const c1 = this.conv1.forward(m, x);
    const h = this.bn1.forward(m, c1, { relu: true, consume: true });
    const c2 = this.conv2.forward(m, h, { consume: true });
    const out = this.bn2.forward(m, c2, { consume: true });
    let identity = x;
    if (this.downsample) {
      const d = this.downsample.conv.forward(m, x);
      identity = this.downsample.bn.forward(m, d, { consume: true });
    }
    const sum = m.engine.inLayer(this.name, () => add(out, identity));
    out.dispose();
    if (identity !== x) identity.dispose();
    return lastUse(sum, m.engine.inLayer(this.name, () => relu(sum)));
  }
}

class DecoderBlock {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;

  constructor(
    b: Builder,
    readonly name: string,
    inC: number,
    skipC: number,
    outC: number,
  ) {
    this.conv1 = new Conv2d(b, `${name}.conv1.0`, inC + skipC, outC, 3, { padding: 1, init: decoderConvInit(inC + skipC, 3) });
    this.bn1 = new BatchNorm2d(b, `${name}.conv1.1`, outC);
    this.conv2 = new Conv2d(b, `${name}.conv2.0`, outC, outC, 3, { padding: 1, init: decoderConvInit(outC, 3) });
    this.bn2 = new BatchNorm2d(b, `${name}.conv2.1`, outC);
  }

  /** Every tensor made here is disposed at its last use; x and skip belong to the caller. */
  forward(m: ModelState, x: Tensor, skip: Tensor | null): Tensor {
    const joined = m.engine.inLayer(this.name, () => (skip ? upsampleConcat(x, skip) : upsampleNearest2d(x, 2)));
    const c1 = this.conv1.forward(m, joined, { consume: true });
    const h = this.bn1.forward(m, c1, { relu: true, consume: true });
    const c2 = this.conv2.forward(m, h, { consume: true });
    return this.bn2.forward(m, c2, { relu: true, consume: true });
  }
}

export class ResnetUnet {
  readonly builder = new Builder();
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: BasicBlock[][];
  readonly decoder: DecoderBlock[];
  readonly head: Conv2d;

  constructor(readonly config: UnetConfig = RESNET34_UNET) {
    const b = this.builder;
    const [stemC, ...layerC] = config.encoderChannels;
    this.conv1 = new Conv2d(b, 'encoder.conv1', config.inChannels, stemC, 7, { stride: 2, padding: 3, init: resnetConvInit(stemC, 7) });
    this.bn1 = new BatchNorm2d(b, 'encoder.bn1', stemC);
    let inC = stemC;
    this.layers = layerC.map((outC, li) =>
      Array.from({ length: config.encoderBlocks[li] }, (_, bi) => {
        const block = new BasicBlock(b, `encoder.layer${li + 1}.${bi}`, bi === 0 ? inC : outC, outC, bi === 0 && li > 0 ? 2 : 1);
        if (bi === 0) inC = outC;
        return block;
      }),
    );
    // Decoder inputs: the deepest feature, then each block's output; skips: features at strides 16, 8, 4, 2, none.
    const skipC = [layerC[2], layerC[1], layerC[0], stemC, 0];
    let decIn = layerC[3];
    this.decoder = config.decoderChannels.map((outC, i) => {
      const block = new DecoderBlock(b, `decoder.blocks.${i}`, decIn, skipC[i], outC);
      decIn = outC;
      return block;
    });
    const headIn = config.decoderChannels[4];
    const xavier = Math.sqrt(6 / (headIn * 9 + config.landmarks * 9));
    this.head = new Conv2d(b, 'segmentation_head.0', headIn, config.landmarks, 3, {
      padding: 1,
      bias: true,
      init: { kind: 'uniform', bound: xavier },
      biasInit: { kind: 'constant', value: 0 },
    });
  }

  /** Allocates parameters (seeded init) and running statistics on the engine. */
  allocate(engine: Engine, seed = 0): ModelState {
    return ModelState.allocate(engine, this.builder, seed);
  }

  /** Logits [N, L, H, W] for images [N, inChannels, H, W] with H and W multiples of 32. */
  forward(m: ModelState, x: Tensor): Tensor {
    const [n, c, h, w] = x.shape;
    if (x.shape.length !== 4 || c !== this.config.inChannels) {
      throw new Error(`ResnetUnet: input must be [N, ${this.config.inChannels}, H, W], got ${shapeString(x.shape)}`);
    }
    if (h % 32 !== 0 || w % 32 !== 0 || n < 1) {
      throw new Error(`ResnetUnet: height and width must be multiples of 32 (five 2x downsamplings), got ${h}x${w}`);
    }
    const stem = this.conv1.forward(m, x);
    const f1 = this.bn1.forward(m, stem, { relu: true, consume: true });
    const features = [f1];
    let y = m.engine.inLayer('encoder.maxpool', () => maxPool2d(f1, { kernel: 3, stride: 2, padding: 1 }));
    for (const layer of this.layers) {
      for (const block of layer) {
        const next = block.forward(m, y);
        if (!features.includes(y)) y.dispose();
        y = next;
      }
      features.push(y);
    }
    // features: f1 (stride 2), layer1 (4), layer2 (8), layer3 (16), layer4 (32); each freed after its last use.
    const skips = [features[3], features[2], features[1], features[0], null];
    let d = features[4];
    this.decoder.forEach((block, i) => {
      const next = block.forward(m, d, skips[i]);
      d.dispose();
      skips[i]?.dispose();
      d = next;
    });
    return this.head.forward(m, d, { consume: true });
  }
}

/**
 * Named widths for machines of different speed: 'paper' is the CHH configuration (ResNet34 encoder, ~24.4 M
 * parameters); 'small' and 'tiny' keep the architecture (stem, maxpool, residual stages, five decoder blocks,
 * skips at strides 16/8/4/2) with fewer channels and one block per stage, for CPU-only WebGPU.
 */
export const MODEL_PRESETS = {
  paper: RESNET34_UNET,
  small: { inChannels: 1, landmarks: 19, encoderChannels: [16, 16, 32, 64, 128], encoderBlocks: [1, 1, 1, 1], decoderChannels: [64, 32, 16, 16, 16] },
  tiny: { inChannels: 1, landmarks: 19, encoderChannels: [8, 8, 16, 16, 32], encoderBlocks: [1, 1, 1, 1], decoderChannels: [32, 16, 8, 8, 8] },
} as const satisfies Record<string, UnetConfig>;

export type ModelPreset = keyof typeof MODEL_PRESETS;

/** The largest input side accepted: the images alone take 4 bytes a pixel on the CPU before any GPU limit applies. */
export const MAX_INPUT_SIDE = 8192;

/** Why width x height cannot be the network's input (both sides multiples of 32, at most MAX_INPUT_SIDE), or null. */
export function inputSizeProblem(width: number, height: number): string | null {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) return `${width}x${height} is not a size in pixels`;
  if (width % 32 !== 0 || height % 32 !== 0) return `${width}x${height} has a side that is not a multiple of 32 (the UNet halves the image five times)`;
  if (width > MAX_INPUT_SIDE || height > MAX_INPUT_SIDE) return `${width}x${height} has a side above ${MAX_INPUT_SIDE} pixels`;
  return null;
}

/**
 * The largest single GPU buffer a training step of this model at width x height and `batch` images holds, and what
 * it is: the flat parameters (and each gradient or Adam state, as large), or the biggest activation (the stem's
 * output, a decoder block's input, or the logits). Checked against the adapter's limits before anything runs.
 */
export function largestBuffer(config: UnetConfig, width: number, height: number, batch: number): { what: string; bytes: number } {
  const params = new ResnetUnet(config).builder.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  const candidates: { what: string; bytes: number }[] = [{ what: 'the parameters (one flat buffer)', bytes: 4 * params }];
  const pixels = (stride: number) => batch * (height / stride) * (width / stride);
  const [stemC, ...layerC] = config.encoderChannels;
  candidates.push({ what: 'the encoder stem output', bytes: 4 * stemC * pixels(2) });
  const skipC = [layerC[2], layerC[1], layerC[0], stemC, 0];
  let decIn = layerC[3];
  config.decoderChannels.forEach((outC, i) => {
    const stride = 2 ** (4 - i);
    candidates.push({ what: `decoder block ${i} (input)`, bytes: 4 * (decIn + skipC[i]) * pixels(stride) });
    candidates.push({ what: `decoder block ${i} (output)`, bytes: 4 * outC * pixels(stride) });
    decIn = outC;
  });
  candidates.push({ what: 'the logits', bytes: 4 * config.landmarks * pixels(1) });
  return candidates.reduce((a, b) => (b.bytes > a.bytes ? b : a));
}

/** Throws a clear error, before anything is allocated, when the model's largest buffer is above the adapter's limits. */
export function checkModelFits(engine: Pick<Engine, 'limits'>, config: UnetConfig, width: number, height: number, batch: number): void {
  const { what, bytes } = largestBuffer(config, width, height, batch);
  const { maxStorageBufferBindingSize: binding, maxBufferSize: buffer } = engine.limits;
  const limit = Math.min(binding, buffer);
  if (bytes <= limit) return;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  const which = binding <= buffer ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
  throw new Error(
    `the model at ${width}x${height}, batch ${batch}, needs a ${mib(bytes)} GPU buffer for ${what}, above this adapter's ` +
      `${which} of ${mib(limit)}: use a smaller input size or batch`,
  );
}
