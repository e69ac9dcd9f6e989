// An engine's kernels: one Kernel per (shader, entry, constants, bindings), one shader module per shader, and their
// pipelines, compiled one at a time when a kernel first runs, or all at once ahead of time (compileAll), in
// parallel, with progress, so a model's first step does not sit through one compile after another.
import { compilePipeline, compilePipelineAsync, createKernel, kernelKey, type Kernel, type KernelSpec, type Shader } from './kernel.ts';

export interface CompileProgress {
  done: number;
  total: number;
  /** The kernel that just finished compiling. */
  kernel: string;
}

export class KernelCache {
  private readonly kernels = new Map<string, Kernel>();
  private readonly modules = new Map<Shader, GPUShaderModule>();

  constructor(private readonly device: GPUDevice) {}

  /** The kernel of spec, made once (its pipeline may not be compiled yet). */
  get(spec: KernelSpec): Kernel {
    const key = kernelKey(spec);
    let k = this.kernels.get(key);
    if (!k) this.kernels.set(key, (k = createKernel(this.device, spec)));
    return k;
  }

  private module(shader: Shader): GPUShaderModule {
    let m = this.modules.get(shader);
    if (!m) this.modules.set(shader, (m = this.device.createShaderModule({ label: shader.name, code: shader.code })));
    return m;
  }

  /** The kernel's pipeline, compiled now if it was not yet. */
  pipeline(kernel: Kernel): GPUComputePipeline {
    return kernel.pipeline ?? compilePipeline(this.device, kernel, this.module(kernel.spec.shader));
  }

  /**
   * Every kernel not compiled yet (of the given ones, or all): in parallel with createComputePipelineAsync, or one
   * after another (`parallel` false: where the async path costs more than it gains, see docs/decisions.md).
   * Resolves when all are compiled.
   */
  async compileAll(kernels: Iterable<Kernel>, parallel: boolean, onProgress?: (p: CompileProgress) => void): Promise<number> {
    const todo = [...new Set(kernels)].filter((k) => !k.pipeline);
    let done = 0;
    const report = (k: Kernel) => onProgress?.({ done: ++done, total: todo.length, kernel: k.name });
    if (parallel) {
      await Promise.all(todo.map((k) => compilePipelineAsync(this.device, k, this.module(k.spec.shader)).then(() => report(k))));
      return todo.length;
    }
    for (const k of todo) {
      this.pipeline(k);
      report(k);
      await new Promise((r) => setTimeout(r, 0)); // let progress be shown between compiles
    }
    return todo.length;
  }

  /**
   * Compiles each kernel inside its own error scopes (validation and internal), so that a pipeline this device
   * refuses is reported instead of failing the device: what a kernel only some adapters accept (an experimental
   * extension) needs before it is offered. Every call is issued synchronously, one scope pair around each, so the
   * scopes never catch one another's errors. Resolves to the refusals, kernel by kernel.
   */
  async probe(kernels: Iterable<Kernel>): Promise<Map<Kernel, string>> {
    const tries = [...new Set(kernels)].filter((k) => !k.pipeline).map((k) => {
      this.device.pushErrorScope('internal');
      this.device.pushErrorScope('validation');
      const compiled = compilePipelineAsync(this.device, k, this.module(k.spec.shader)).then(
        () => null,
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      );
      const validation = this.device.popErrorScope();
      const internal = this.device.popErrorScope();
      return Promise.all([validation, internal, compiled]).then(([v, i, c]) => [k, v?.message ?? i?.message ?? c] as const);
    });
    const refused = new Map<Kernel, string>();
    for (const [k, message] of await Promise.all(tries)) {
      if (message === null) continue;
      k.pipeline = null; // a pipeline made while an error was captured is not one to run
      refused.set(k, message);
    }
    return refused;
  }

  /** How many kernels were made, and how many of them are compiled. */
  counts(): { kernels: number; compiled: number } {
    let compiled = 0;
    for (const k of this.kernels.values()) if (k.pipeline) compiled++;
    return { kernels: this.kernels.size, compiled };
  }

  /** Every kernel made so far. */
  all(): IterableIterator<Kernel> {
    return this.kernels.values();
  }
}
