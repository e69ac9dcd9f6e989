// Layers as plain objects that know their PyTorch state_dict names. A model is declared first (every layer adds
// its parameter and buffer specs to a Builder), then allocated: parameters in one ParameterStore (one flat
// buffer, so Adam is one dispatch), running statistics as separate tensors. Names follow smp/torchvision exactly,
// so a state_dict maps one to one.
import type { Engine } from '../engine/engine.ts';
import { ParameterStore, type ParameterSpec } from './parameters.ts';
import type { Shape, Tensor } from '../engine/tensor.ts';
import { shapeSize } from '../engine/tensor.ts';
import { conv2d } from '../ops/conv2d/conv2d.ts';
import { batchNorm2d } from '../ops/batchnorm.ts';
import { mulberry32 } from '../engine/random.ts';
import { full } from '../ops/fill.ts';

export type Init =
  | { kind: 'constant'; value: number }
  | { kind: 'uniform'; bound: number }
  | { kind: 'normal'; std: number };

export interface BufferSpec {
  name: string;
  shape: Shape;
  value: number;
}

export class Builder {
  readonly params: (ParameterSpec & { init: Init })[] = [];
  readonly buffers: BufferSpec[] = [];

  param(name: string, shape: Shape, init: Init): string {
    this.params.push({ name, shape, init });
    return name;
  }

  buffer(name: string, shape: Shape, value: number): string {
    this.buffers.push({ name, shape, value });
    return name;
  }
}

/** The allocated state of a model: parameters, running statistics, and the train/eval switch. */
export class ModelState {
  training = true;
  /** PyTorch's BatchNorm num_batches_tracked, per BN layer prefix (kept for state_dict round trips). */
  readonly batchesTracked = new Map<string, number>();

  private constructor(
    readonly engine: Engine,
    readonly params: ParameterStore,
    readonly buffers: Map<string, Tensor>,
  ) {}

  static allocate(engine: Engine, builder: Builder, seed = 0): ModelState {
    const params = ParameterStore.create(engine, builder.params);
    const random = mulberry32(seed);
    const gaussian = (): number => {
      const u = Math.max(random(), 1e-12);
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    };
    for (const spec of builder.params) {
      const n = shapeSize(spec.shape);
      const data = new Float32Array(n);
      const init = spec.init;
      for (let i = 0; i < n; i++) {
        data[i] = init.kind === 'constant' ? init.value : init.kind === 'uniform' ? (2 * random() - 1) * init.bound : gaussian() * init.std;
      }
      engine.write(params.get(spec.name), data);
    }
    const buffers = new Map<string, Tensor>();
    engine.untracked(() => {
      for (const b of builder.buffers) buffers.set(b.name, full(engine, b.shape, b.value, { label: b.name }));
    });
    return new ModelState(engine, params, buffers);
  }

  param(name: string): Tensor {
    return this.params.get(name);
  }

  buffer(name: string): Tensor {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`no buffer named "${name}"`);
    return b;
  }

  dispose(): void {
    this.params.dispose();
    for (const b of this.buffers.values()) b.dispose();
  }
}

export interface ConvOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
  init?: Init;
  biasInit?: Init;
}

export class Conv2d {
  readonly weight: string;
  readonly bias: string | null;
  readonly stride: number;
  readonly padding: number;

  constructor(
    b: Builder,
    readonly name: string,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    options: ConvOptions = {},
  ) {
    const fanIn = inChannels * kernel * kernel;
    // PyTorch's default (kaiming_uniform with a = sqrt(5)) gives bound 1/sqrt(fan_in).
    this.weight = b.param(`${name}.weight`, [outChannels, inChannels, kernel, kernel], options.init ?? { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) });
    this.bias = options.bias ? b.param(`${name}.bias`, [outChannels], options.biasInit ?? { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) }) : null;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
  }

  /** `consume`: this is x's last use (conv2d's option: disposed, and under f16 storage read as its saved f16 pairs). */
  forward(m: ModelState, x: Tensor, { consume = false } = {}): Tensor {
    const options = { stride: this.stride, padding: this.padding, consume };
    return m.engine.inLayer(this.name, () => conv2d(x, m.param(this.weight), this.bias ? m.param(this.bias) : null, options));
  }
}

export class BatchNorm2d {
  constructor(
    b: Builder,
    readonly name: string,
    readonly channels: number,
    readonly momentum = 0.1,
    readonly eps = 1e-5,
  ) {
    b.param(`${name}.weight`, [channels], { kind: 'constant', value: 1 });
    b.param(`${name}.bias`, [channels], { kind: 'constant', value: 0 });
    b.buffer(`${name}.running_mean`, [channels], 0);
    b.buffer(`${name}.running_var`, [channels], 1);
  }

  /** `relu`: max(y, 0) fused in; `consume`: this is x's last use (batchNorm2d's option: y may take x's buffer). */
  forward(m: ModelState, x: Tensor, { relu = false, consume = false } = {}): Tensor {
    if (m.training) m.batchesTracked.set(this.name, (m.batchesTracked.get(this.name) ?? 0) + 1);
    const options = {
      weight: m.param(`${this.name}.weight`),
      bias: m.param(`${this.name}.bias`),
      runningMean: m.buffer(`${this.name}.running_mean`),
      runningVar: m.buffer(`${this.name}.running_var`),
      training: m.training,
      momentum: this.momentum,
      eps: this.eps,
      relu,
      consume,
    };
    return m.engine.inLayer(this.name, () => batchNorm2d(x, options));
  }
}
