/** f32 for everything numeric; i32 only for indices (target pixels, argmax positions). */
export type DType = 'f32' | 'i32';

export type Shape = readonly number[];

let nextTensorId = 1;

export function shapeSize(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export function checkShape(shape: Shape, what: string): void {
  if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`${what}: shape must be a non-empty list of positive integers, got ${JSON.stringify(shape)}`);
  }
}

/**
 * What a tensor needs from the engine that made it: its limits, reads, and taking the buffer back. The Engine
 * (engine.ts) implements it; ops get the Engine itself with Engine.of(tensor). Declared here so that this file
 * imports nothing.
 */
export interface TensorEngine {
  readonly limits: GPUSupportedLimits;
  read(t: Tensor): Promise<Float32Array | Int32Array>;
  releaseTensor(t: Tensor, buffer: GPUBuffer): void;
}

/**
 * An n-dimensional array in a GPU buffer, dense and row-major. A tensor owns its buffer (which returns to the
 * engine's pool on dispose), or is a view into another tensor's buffer (parameters living in one flat buffer,
 * so that one dispatch can update them all). Reading back to the CPU is explicit and async: `await t.read()`.
 */
export class Tensor {
  readonly id = nextTensorId++;
  readonly size: number;
  /** The gradient accumulated by backward(); for parameters, a view into the model's flat gradient buffer. */
  grad: Tensor | null = null;
  private gpuBuffer: GPUBuffer | null;
  /** Tensors saved for backward that keep this buffer alive past its owner's dispose() (src/ops/saved.ts). */
  private holds = 0;
  private ownerDisposed = false;

  constructor(
    readonly engine: TensorEngine,
    buffer: GPUBuffer,
    readonly shape: Shape,
    readonly dtype: DType,
    /** True for parameters and every tensor computed from them while gradients are enabled. */
    public requiresGrad: boolean,
    readonly label: string,
    /** Byte offset into the buffer (non-zero only for views). */
    readonly byteOffset = 0,
    /** The tensor whose buffer this one views, or null when this tensor owns its buffer. */
    readonly base: Tensor | null = null,
  ) {
    checkShape(shape, label);
    this.size = shapeSize(shape);
    this.gpuBuffer = buffer;
  }

  get byteLength(): number {
    return this.size * 4;
  }

  get isDisposed(): boolean {
    return this.gpuBuffer === null || (this.base !== null && this.base.isDisposed);
  }

  /** The GPU buffer; throws if the tensor was disposed, so a stale tensor never reads recycled memory. */
  get buffer(): GPUBuffer {
    if (this.isDisposed || this.gpuBuffer === null) {
      throw new Error(`tensor "${this.label}" ${shapeString(this.shape)} was disposed and cannot be used again`);
    }
    return this.gpuBuffer;
  }

  /** A view of `shape` starting `elementOffset` elements into this tensor; shares memory, never owns it. */
  view(elementOffset: number, shape: Shape, label = `${this.label}.view`): Tensor {
    checkShape(shape, label);
    const n = shapeSize(shape);
    if (!Number.isInteger(elementOffset) || elementOffset < 0 || elementOffset + n > this.size) {
      throw new Error(`${label}: view [${elementOffset}, ${elementOffset + n}) is outside "${this.label}" of ${this.size} elements`);
    }
    const byteOffset = this.byteOffset + elementOffset * 4;
    const align = this.engine.limits.minStorageBufferOffsetAlignment;
    if (byteOffset % align !== 0) {
      throw new Error(`${label}: view byte offset ${byteOffset} is not a multiple of the adapter's storage alignment ${align}`);
    }
    return new Tensor(this.engine, this.buffer, shape, this.dtype, false, label, byteOffset, this.base ?? this);
  }

  /** Copies the data to the CPU. Submits all work recorded so far. */
  read(): Promise<Float32Array | Int32Array> {
    return this.engine.read(this);
  }

  /** Reads a one-element tensor as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item(): "${this.label}" has ${this.size} elements, expected 1`);
    return (await this.read())[0];
  }

  /**
   * Returns the buffer to the engine's pool, or, while a backward still holds the tensor (hold()), once it lets go.
   * Disposing twice is harmless; using a disposed tensor throws.
   */
  dispose(): void {
    if (this.gpuBuffer === null || this.ownerDisposed) return;
    this.ownerDisposed = true;
    if (this.holds === 0) this.releaseBuffer();
  }

  /**
   * Keeps the buffer alive, and the tensor usable, past its owner's dispose() until unhold(): how a tensor saved
   * for backward outlives the forward code that made it and let it go at its last use there.
   */
  hold(): void {
    if (this.isDisposed) throw new Error(`tensor "${this.label}" ${shapeString(this.shape)} was disposed and cannot be held`);
    this.holds++;
  }

  unhold(): void {
    if (this.holds === 0) throw new Error(`tensor "${this.label}": unhold() without hold()`);
    if (--this.holds === 0 && this.ownerDisposed) this.releaseBuffer();
  }

  /** Whether detachBuffer() would succeed: a live owner of its buffer that nothing holds. */
  get canGiveBuffer(): boolean {
    return this.base === null && this.holds === 0 && this.gpuBuffer !== null && !this.ownerDisposed;
  }

  /**
   * Gives up the buffer without releasing it (the engine's adopt() hands it to a new tensor); the tensor is
   * disposed from then on. Refused for views and held tensors, whose buffer is not theirs alone to give.
   */
  detachBuffer(): GPUBuffer {
    if (this.base !== null || this.holds > 0) throw new Error(`tensor "${this.label}": a view or a held tensor cannot give its buffer away`);
    const buffer = this.buffer;
    this.gpuBuffer = null;
    return buffer;
  }

  private releaseBuffer(): void {
    const buffer = this.gpuBuffer;
    if (buffer === null) return;
    this.gpuBuffer = null;
    this.engine.releaseTensor(this, buffer);
  }

  toString(): string {
    return `Tensor(${this.label}, ${shapeString(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}
