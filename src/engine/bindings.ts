// The bind groups of dispatches, built from a kernel's reflected bindings and the values given by WGSL variable name
// (tensors for storage buffers, numbers for uniform structs), each checked with an error naming the kernel and the
// binding. Uniform buffers and bind groups are cached: a training step repeats the same shapes and buffers every
// time, so after the first step nothing is created.
import { packUniform, type Kernel, type KernelBinding, type UniformValues } from './kernel.ts';
import { Tensor } from './tensor.ts';

export type Binding = Tensor | UniformValues;

/** Entries past this many in a cache are dropped at the next submit (nothing pending refers to them then). */
const MAX_CACHED = 20000;

export class BindGroups {
  private readonly uniforms = new Map<string, GPUBuffer>();
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;

  constructor(private readonly device: GPUDevice) {}

  /** The bind group of one dispatch, every binding checked; cached by the buffers and ranges it binds. */
  get(kernel: Kernel, bindings: Readonly<Record<string, Binding>>): GPUBindGroup {
    for (const name of Object.keys(bindings)) {
      if (!kernel.bindings.some((b) => b.name === name)) throw new Error(`${kernel.name}: was given binding "${name}", which the kernel does not have`);
    }
    const entries: GPUBindGroupEntry[] = [];
    let key = kernel.name;
    for (const b of kernel.bindings) {
      const resource = this.resource(kernel.name, b, bindings[b.name]);
      entries.push({ binding: b.binding, resource });
      key += `|${this.bufferId(resource.buffer)}@${resource.offset ?? 0}+${resource.size ?? 0}`;
    }
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = this.device.createBindGroup({ label: kernel.name, layout: kernel.layout, entries })));
    return group;
  }

  private resource(kernel: string, b: KernelBinding, value: Binding | undefined): GPUBufferBinding {
    if (value === undefined) throw new Error(`${kernel}: binding "${b.name}" is missing`);
    if (b.kind === 'uniform') {
      if (value instanceof Tensor) throw new Error(`${kernel}: binding "${b.name}" is a uniform struct; pass its values, not a tensor`);
      return { buffer: this.uniformBuffer(kernel, b, value) };
    }
    if (!(value instanceof Tensor)) throw new Error(`${kernel}: binding "${b.name}" is a storage buffer and needs a tensor`);
    if (value.isDisposed) throw new Error(`${kernel}: binding "${b.name}" got tensor "${value.label}", which was disposed`);
    return { buffer: value.buffer, offset: value.byteOffset, size: value.byteLength };
  }

  private bufferId(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) this.bufferIds.set(buffer, (id = this.nextBufferId++));
    return id;
  }

  /** Uniform buffers are immutable and cached by content. */
  private uniformBuffer(kernel: string, b: KernelBinding, values: UniformValues): GPUBuffer {
    const bytes = packUniform(kernel, b, values);
    const words = new Uint32Array(bytes);
    const key = `${bytes.byteLength}:${words.join(',')}`;
    let buffer = this.uniforms.get(key);
    if (!buffer) {
      buffer = this.device.createBuffer({ label: `${kernel} uniforms`, size: bytes.byteLength, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
      new Uint32Array(buffer.getMappedRange()).set(words);
      buffer.unmap();
      this.uniforms.set(key, buffer);
    }
    return buffer;
  }

  /** After a submit: bounds the caches. */
  trimAfterSubmit(): void {
    if (this.groups.size > MAX_CACHED) this.groups.clear();
    if (this.uniforms.size > MAX_CACHED) this.destroyUniforms();
  }

  /** Forgets every bind group (their buffers may be about to be destroyed). */
  clearGroups(): void {
    this.groups.clear();
  }

  private destroyUniforms(): void {
    for (const u of this.uniforms.values()) u.destroy();
    this.uniforms.clear();
  }

  destroy(): void {
    this.destroyUniforms();
    this.groups.clear();
  }
}
