// The engine: one GPUDevice, its buffer pool, its kernels, the command encoder that dispatches are recorded into,
// memory scopes, and the autograd tape (tape.ts). Dispatches are recorded into one encoder and submitted together,
// so a training step runs without a CPU round trip until something is read back.
import { isCpuAdapter, requestGpu, type AdapterDescription, type DeviceOptions } from './device.ts';
import { BufferPool, type MemoryStats } from './buffer-pool.ts';
import { foldedGrid, type Kernel, type KernelSpec } from './kernel.ts';
import { BindGroups, type Binding } from './bindings.ts';
import { KernelCache, type CompileProgress } from './kernels.ts';
import { Tensor, checkShape, shapeSize, shapeString, type DType, type Shape, type TensorEngine } from './tensor.ts';
import { Tape } from './tape.ts';
import { Scopes } from './scopes.ts';

export interface EngineOptions extends DeviceOptions {
  /** Submit after this many recorded dispatches even without a read, to bound command-buffer size. */
  maxDispatchesPerSubmit?: number;
}

export type { Binding } from './bindings.ts';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  label?: string;
}

export class Engine implements TensorEngine {
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  readonly features: ReadonlySet<string>;
  readonly limits: GPUSupportedLimits;
  readonly pool: BufferPool;

  /** Autograd: every differentiable op run while gradients are enabled appends a node here. */
  readonly tape = new Tape();
  private readonly scopes = new Scopes();

  private readonly kernels: KernelCache;
  /** While traceKernels runs: the kernels its dispatches use (and nothing is recorded or written). */
  private traced: Set<Kernel> | null = null;
  private readonly bindGroups: BindGroups;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatchesInEncoder = 0;
  private readonly maxDispatchesPerSubmit: number;
  /** The first GPU error or device loss; once set, every further GPU call throws it. */
  private failure: Error | null = null;
  private lastOp = '(none)';
  private destroyed = false;

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const ctx = await requestGpu(options);
    return new Engine(ctx.device, ctx.adapter, ctx.features, ctx.limits, options);
  }

  /** The engine that made a tensor (a tensor knows it only as a TensorEngine). */
  static of(t: Tensor): Engine {
    if (!(t.engine instanceof Engine)) throw new Error(`tensor "${t.label}" does not belong to an Engine`);
    return t.engine;
  }

  constructor(
    device: GPUDevice,
    adapter: AdapterDescription,
    features: ReadonlySet<string>,
    limits: GPUSupportedLimits,
    options: EngineOptions = {},
  ) {
    this.device = device;
    this.adapter = adapter;
    this.features = features;
    this.limits = limits;
    this.pool = new BufferPool(device, Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize));
    this.kernels = new KernelCache(device);
    this.bindGroups = new BindGroups(device);
    this.maxDispatchesPerSubmit = options.maxDispatchesPerSubmit ?? 4096;
    // GPU errors arrive asynchronously. The message names the labelled object (every pipeline and bind group is
    // labelled with its kernel, every buffer with the op that made it); we add the last op recorded, and throw
    // at the next call into the engine, so no result computed after an error is ever returned.
    device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.fail(new Error(`WebGPU error (last op recorded: ${this.lastOp}): ${error.message}`));
    });
    void device.lost.then((info) => {
      if (this.destroyed) return;
      this.fail(new Error(`WebGPU device lost (${info.reason}) after op ${this.lastOp}: ${info.message}`));
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
  }

  /** Throws the pending GPU failure, if any, naming the op that is being attempted. */
  checkHealthy(op: string): void {
    if (this.destroyed) throw new Error(`${op}: the engine was destroyed`);
    if (this.failure) {
      const e = new Error(`${op}: cannot run, an earlier GPU failure: ${this.failure.message}`);
      (e as Error & { cause?: unknown }).cause = this.failure;
      throw e;
    }
  }

  // ---------------------------------------------------------------- tensors

  /** An uninitialised tensor (contents are whatever the pooled buffer held). Kernels write every element. */
  empty(shape: Shape, options: TensorOptions = {}): Tensor {
    const label = options.label ?? 'tensor';
    checkShape(shape, label);
    this.checkHealthy(label);
    const bytes = shapeSize(shape) * 4;
    const layer = this.tape.layer;
    if (bytes > this.limits.maxStorageBufferBindingSize) {
      throw new Error(
        `${label}${layer ? ` in layer ${layer}` : ''}: ${shapeString(shape)} needs ${bytes} bytes, above this adapter's ` +
          `maxStorageBufferBindingSize ${this.limits.maxStorageBufferBindingSize}. Use a smaller batch or image size.`,
      );
    }
    const buffer = this.pool.acquire(bytes, layer ? `${label} in layer ${layer}` : label, layer ?? label);
    buffer.label = label;
    const t = new Tensor(this, buffer, shape, options.dtype ?? 'f32', options.requiresGrad ?? false, label);
    this.scopes.track(t);
    return t;
  }

  /**
   * t's buffer as a new tensor of `shape` (the first shapeSize(shape) elements), which now owns it; t is disposed.
   * How a kernel's output with a tail (a weight gradient with the bias gradient after it) becomes the weight
   * gradient without a copy or a second buffer.
   */
  adopt(t: Tensor, shape: Shape, label: string): Tensor {
    checkShape(shape, label);
    if (shapeSize(shape) > t.size) throw new Error(`${label}: ${shapeString(shape)} does not fit in "${t.label}" of ${t.size} elements`);
    const out = new Tensor(this, t.detachBuffer(), shape, t.dtype, false, label);
    this.scopes.track(out);
    return out;
  }

  /** A tensor holding a copy of `data`. Float32Array (or numbers) make f32 tensors, Int32Array makes i32. */
  tensor(data: Float32Array | Int32Array | readonly number[], shape: Shape, options: TensorOptions = {}): Tensor {
    const label = options.label ?? 'tensor';
    let dtype: DType;
    if (data instanceof Float32Array) dtype = 'f32';
    else if (data instanceof Int32Array) dtype = 'i32';
    else if (Array.isArray(data)) dtype = options.dtype ?? 'f32';
    else {
      const kind = (data as object)?.constructor?.name ?? typeof data;
      throw new Error(`${label}: data must be a Float32Array (f32), an Int32Array (i32) or an array of numbers, got ${kind}`);
    }
    if (options.dtype && options.dtype !== dtype) {
      throw new Error(`${label}: dtype ${options.dtype} was asked for but the data is ${dtype}`);
    }
    checkShape(shape, label);
    if (data.length !== shapeSize(shape)) {
      throw new Error(`${label}: ${data.length} values do not fill shape ${shapeString(shape)} (${shapeSize(shape)} elements)`);
    }
    const typed = dtype === 'f32' ? Float32Array.from(data as ArrayLike<number>) : Int32Array.from(data as ArrayLike<number>);
    const t = this.empty(shape, { ...options, dtype, label });
    this.write(t, typed);
    return t;
  }

  /** Overwrites a tensor's contents from the CPU. */
  write(t: Tensor, data: Float32Array | Int32Array): void {
    if (data.length !== t.size) throw new Error(`write to "${t.label}": ${data.length} values for ${t.size} elements`);
    if ((t.dtype === 'f32') !== data instanceof Float32Array) {
      throw new Error(`write to "${t.label}": the tensor is ${t.dtype} but the data is ${data.constructor.name}`);
    }
    this.checkHealthy(`write ${t.label}`);
    if (this.traced) return;
    // A queue write lands before any work not yet submitted; submit first so recorded work that used this
    // (possibly recycled) buffer sees the old contents and later work sees the new ones.
    this.flush();
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** A tensor of zeros (f32 0.0 or i32 0). */
  zeros(shape: Shape, options: TensorOptions = {}): Tensor {
    const t = this.empty(shape, { label: 'zeros', ...options });
    this.clear(t);
    return t;
  }

  /**
   * Records setting every byte of `t` (which may be a view) to zero with the encoder's clearBuffer, a memset on a
   * CPU driver, where a kernel's stores are 4-lane scatters (src/ops/fill.ts sets other values).
   */
  clear(t: Tensor): void {
    this.checkHealthy(`clear ${t.label}`);
    if (this.traced) return;
    this.endPass();
    this.commandEncoder().clearBuffer(t.buffer, t.byteOffset, t.byteLength);
  }

  /**
   * Allocates many tensors as views of one flat buffer, each aligned for binding. Parameters live like this, so
   * an optimizer updates them all in one dispatch, and their gradients live likewise in a second flat buffer.
   */
  flatTensors(shapes: readonly Shape[], label: string, options: TensorOptions = {}): { flat: Tensor; views: Tensor[] } {
    const align = Math.max(1, this.limits.minStorageBufferOffsetAlignment / 4);
    const offsets: number[] = [];
    let total = 0;
    for (const s of shapes) {
      checkShape(s, label);
      offsets.push(total);
      total += Math.ceil(shapeSize(s) / align) * align;
    }
    const flat = this.untracked(() => this.zeros([total], { label, dtype: options.dtype }));
    const views = shapes.map((s, i) => flat.view(offsets[i], s, `${label}[${i}]`));
    return { flat, views };
  }

  // ---------------------------------------------------------------- memory scopes (scopes.ts)

  /**
   * Runs fn and disposes every tensor created inside it, except those it returns (directly, or in an array or
   * plain object) and those passed to keep(). The tape nodes recorded inside are dropped too: call backward()
   * inside the scope that ran the forward pass.
   */
  scope<T>(fn: () => T): T {
    const tapeStart = this.tape.length;
    const result = this.scopes.run(fn);
    this.tape.truncate(tapeStart);
    return result;
  }

  /** Removes a tensor from the current scope so it outlives it. */
  keep<T extends Tensor>(t: T): T {
    return this.scopes.keep(t);
  }

  /** Runs fn with no scope tracking: tensors made inside belong to the caller (parameters, optimizer state). */
  untracked<T>(fn: () => T): T {
    return this.scopes.untracked(fn);
  }

  /** Called by Tensor.dispose(). Views own nothing; an owner's buffer goes back to the pool. */
  releaseTensor(t: Tensor, buffer: GPUBuffer): void {
    if (t.base === null && !this.destroyed) this.pool.release(buffer);
  }

  memory(): MemoryStats {
    return this.pool.memory();
  }

  /**
   * Runs fn as the named layer (null: none): the buffers it allocates are counted under that name
   * (pool.holders()), error messages name it, and the tape nodes it records run their backward under it too.
   */
  inLayer<T>(layer: string | null, fn: () => T): T {
    const outer = this.tape.layer;
    this.tape.layer = layer;
    try {
      return fn();
    } finally {
      this.tape.layer = outer;
    }
  }

  // ---------------------------------------------------------------- autograd mode

  get gradEnabled(): boolean {
    return this.tape.enabled;
  }

  /** Runs fn without recording the tape (inference, metrics, optimizer updates). */
  noGrad<T>(fn: () => T): T {
    return this.tape.noGrad(fn);
  }

  // ---------------------------------------------------------------- kernels and dispatch

  /** The kernel for spec, made once per (shader, entry, constants); its pipeline is compiled when it first runs. */
  kernel(spec: KernelSpec): Kernel {
    this.checkHealthy(`kernel ${spec.shader.name}.${spec.entry}`);
    return this.kernels.get(spec);
  }

  /**
   * Runs fn without recording or writing anything, and returns the kernels its dispatches would have used: a dry run
   * of a model's step, so that compileKernels can compile them all ahead of it. Tensors are allocated as usual (from
   * the pool, which the real step then reuses); reads are refused.
   */
  traceKernels(fn: () => void): Kernel[] {
    if (this.traced) throw new Error('traceKernels: already tracing');
    this.traced = new Set();
    try {
      this.scope(fn);
      return [...this.traced];
    } finally {
      this.traced = null;
    }
  }

  /**
   * Compiles every kernel given (default: every kernel made so far) that is not compiled yet: in parallel, except
   * in Node on a CPU adapter, where Dawn's asynchronous pipeline creation measured twice as slow as compiling one
   * after another (docs/decisions.md).
   */
  async compileKernels(kernels?: Iterable<Kernel>, onProgress?: (p: CompileProgress) => void): Promise<number> {
    this.checkHealthy('compileKernels');
    this.lastOp = 'compileKernels';
    const parallel = this.adapter.runtime === 'browser' || !isCpuAdapter(this.adapter);
    const n = await this.kernels.compileAll(kernels ?? this.kernels.all(), parallel, onProgress);
    this.checkHealthy('compileKernels');
    return n;
  }

  /**
   * Compiles these kernels where the device accepts them and returns, for each it refuses, the device's message:
   * the refusal is captured (error scopes), so the engine stays usable. For kernels only some adapters may accept.
   */
  async probeKernels(kernels: Iterable<Kernel>): Promise<Map<Kernel, string>> {
    this.checkHealthy('probeKernels');
    this.lastOp = 'probeKernels';
    const refused = await this.kernels.probe(kernels);
    this.checkHealthy('probeKernels');
    return refused;
  }

  /** How many kernels this engine made, and how many are compiled (diagnostics, tests). */
  kernelCounts(): { kernels: number; compiled: number } {
    return this.kernels.counts();
  }

  /** Workgroup counts covering n invocations of a 1-D kernel, folded into y when x would exceed the limit. */
  grid1d(n: number, kernel: Kernel): [number, number, number] {
    return foldedGrid(Math.ceil(n / kernel.workgroupSize[0]), this.limits.maxComputeWorkgroupsPerDimension);
  }

  /** Records one dispatch of `kernel` with its bindings given by WGSL variable name. */
  run(kernel: Kernel, bindings: Readonly<Record<string, Binding>>, workgroups: readonly [number, number, number]): void {
    this.checkHealthy(kernel.name);
    this.lastOp = kernel.name;
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (workgroups.some((w) => !Number.isInteger(w) || w < 0 || w > max)) {
      throw new Error(`${kernel.name}: workgroup counts ${JSON.stringify(workgroups)} must be integers in [0, ${max}]`);
    }
    const bindGroup = this.bindGroups.get(kernel, bindings);
    if (this.traced) {
      this.traced.add(kernel);
      return;
    }
    if (workgroups[0] * workgroups[1] * workgroups[2] === 0) return;
    const pass = this.computePass();
    pass.setPipeline(this.kernels.pipeline(kernel));
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    if (++this.dispatchesInEncoder >= this.maxDispatchesPerSubmit) this.flush();
  }

  /**
   * Hands the command encoder to `fn` between compute passes, in order with everything recorded before and after
   * (ends the current compute pass): for commands the engine has no method for, e.g. a profiler's timestamp passes
   * and query resolves (profiler.ts).
   */
  encode(fn: (encoder: GPUCommandEncoder) => void): void {
    this.checkHealthy('encode');
    if (this.traced) return;
    this.endPass();
    fn(this.commandEncoder());
  }

  /** Records a buffer copy (ends the current compute pass). */
  copy(src: Tensor, dst: Tensor): void {
    if (src.size !== dst.size) throw new Error(`copy: "${src.label}" has ${src.size} elements but "${dst.label}" has ${dst.size}`);
    this.checkHealthy('copy');
    if (this.traced) return;
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src.buffer, src.byteOffset, dst.buffer, dst.byteOffset, src.byteLength);
  }

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder({ label: 'chh-webgpu' });
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.commandEncoder().beginComputePass({ label: 'chh-webgpu' });
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Submits everything recorded so far. Does not wait. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const commands = this.encoder.finish();
    this.encoder = null;
    this.dispatchesInEncoder = 0;
    this.device.queue.submit([commands]);
    this.bindGroups.trimAfterSubmit();
  }

  /** Submits and waits for the GPU to finish; throws if any GPU error happened. */
  async sync(): Promise<void> {
    this.checkHealthy('sync');
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.checkHealthy('sync');
  }

  /** Copies a tensor to the CPU. Submits all recorded work; other work can be recorded while this resolves. */
  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    const op = `read ${t.label}`;
    this.checkHealthy(op);
    if (this.traced) throw new Error(`${op}: cannot read while tracing kernels (traceKernels runs nothing)`);
    if (t.isDisposed) throw new Error(`${op}: tensor "${t.label}" ${shapeString(t.shape)} was disposed`);
    const staging = this.device.createBuffer({ label: `${op} staging`, size: t.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, t.byteLength);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.checkHealthy(op);
      throw new Error(`${op}: mapping the result failed: ${(e as Error).message}`);
    }
    this.checkHealthy(op);
    const copy = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    return t.dtype === 'f32' ? new Float32Array(copy) : new Int32Array(copy);
  }

  /** Frees pooled (unused) GPU memory. */
  trim(): void {
    this.flush();
    this.bindGroups.clearGroups();
    this.pool.trim();
  }

  destroy(): void {
    if (this.destroyed) return;
    try {
      this.flush();
    } catch {
      // a failed device cannot submit; destroying it is all that is left to do
    }
    this.destroyed = true;
    this.pool.destroy();
    this.bindGroups.destroy();
    this.device.destroy();
  }
}
