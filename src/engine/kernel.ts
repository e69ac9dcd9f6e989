// A kernel is one entry point of one WGSL shader, compiled with a set of override constants. Each shader carries its
// entry points' bindings and workgroup sizes, reflected from the WGSL when it was embedded (scripts/reflect-wgsl.ts),
// so nothing parses WGSL at run time. The binding names the TypeScript side declares are checked against them, so a
// mismatch is an error when the kernel loads, naming the kernel and the binding. Uniform structs are packed by member
// name from the reflected layout: no hand-computed offsets in TypeScript.
//
// A kernel's pipeline is compiled when first needed (createComputePipeline), or ahead of time and in parallel
// (compilePipelineAsync: the engine's compileKernels), so the first step of a model does not wait on one compile
// after another.

export interface UniformMember {
  name: string;
  offset: number;
  /** 'f32' | 'i32' | 'u32' scalar type of the member or of its vector components. */
  scalar: 'f32' | 'i32' | 'u32';
  count: number;
}

export interface KernelBinding {
  name: string;
  binding: number;
  kind: 'uniform' | 'storage' | 'read-only-storage';
  /** For uniforms: the packed struct's size and members. */
  uniformSize?: number;
  members?: UniformMember[];
}

/** One compute entry point of a shader, as reflected at embed time. */
export interface ShaderEntry {
  readonly bindings: readonly KernelBinding[];
  /** Literal sizes; sizes given by override constants are the constants' defaults. */
  readonly workgroupSize: readonly [number, number, number];
}

/** A WGSL module: an op's .wgsl file (or a template's variant), embedded by scripts/embed-shaders.ts. */
export interface Shader {
  readonly name: string;
  readonly code: string;
  readonly entries: Readonly<Record<string, ShaderEntry>>;
}

export interface KernelSpec {
  /** The shader (SHADERS.name from src/generated/shaders.ts). */
  shader: Shader;
  entry: string;
  /** Every binding the TypeScript side provides, by WGSL variable name. */
  bindings: readonly string[];
  /** Override constants (e.g. tile sizes); part of the pipeline cache key. */
  constants?: Readonly<Record<string, number>>;
}

export type UniformValues = Readonly<Record<string, number | readonly number[]>>;

/** A kernel: its layout and bindings, and its pipeline once compiled (null until then). */
export interface Kernel {
  readonly name: string;
  readonly spec: KernelSpec;
  readonly layout: GPUBindGroupLayout;
  readonly bindings: readonly KernelBinding[];
  readonly workgroupSize: readonly [number, number, number];
  pipeline: GPUComputePipeline | null;
}

/** The entry point's reflected bindings, compared with what the TypeScript side declares. */
export function reflectKernel(spec: KernelSpec): ShaderEntry {
  const name = `${spec.shader.name}.${spec.entry}`;
  const entry = spec.shader.entries[spec.entry];
  if (!entry) {
    const have = Object.keys(spec.shader.entries).join(', ');
    throw new Error(`kernel ${name}: shader ${spec.shader.name} has no compute entry point "${spec.entry}" (it has: ${have})`);
  }
  const declared = new Set(spec.bindings);
  const inShader = new Set(entry.bindings.map((b) => b.name));
  for (const b of entry.bindings) {
    if (!declared.has(b.name)) {
      throw new Error(`kernel ${name}: the WGSL uses binding "${b.name}" (@binding(${b.binding})) that the TypeScript side does not provide`);
    }
  }
  for (const d of declared) {
    if (!inShader.has(d)) {
      throw new Error(`kernel ${name}: the TypeScript side provides binding "${d}" that the WGSL entry point does not use`);
    }
  }
  return entry;
}

/** The kernel of spec with its bind group layout, not compiled yet. */
export function createKernel(device: GPUDevice, spec: KernelSpec): Kernel {
  const name = `${spec.shader.name}.${spec.entry}`;
  const { bindings, workgroupSize } = reflectKernel(spec);
  const layout = device.createBindGroupLayout({
    label: name,
    entries: bindings.map((b) => ({ binding: b.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.kind } })),
  });
  return { name, spec, layout, bindings, workgroupSize, pipeline: null };
}

function pipelineDescriptor(device: GPUDevice, kernel: Kernel, module: GPUShaderModule): GPUComputePipelineDescriptor {
  const { spec } = kernel;
  return {
    label: kernel.name,
    layout: device.createPipelineLayout({ label: kernel.name, bindGroupLayouts: [kernel.layout] }),
    compute: { module, entryPoint: spec.entry, constants: spec.constants ? { ...spec.constants } : undefined },
  };
}

/** Compiles the kernel's pipeline now (the module is the shader's, made once per engine). */
export function compilePipeline(device: GPUDevice, kernel: Kernel, module: GPUShaderModule): GPUComputePipeline {
  kernel.pipeline ??= device.createComputePipeline(pipelineDescriptor(device, kernel, module));
  return kernel.pipeline;
}

/** Compiles the kernel's pipeline without blocking: the driver may compile several at once. */
export async function compilePipelineAsync(device: GPUDevice, kernel: Kernel, module: GPUShaderModule): Promise<GPUComputePipeline> {
  if (kernel.pipeline) return kernel.pipeline;
  const pipeline = await device.createComputePipelineAsync(pipelineDescriptor(device, kernel, module));
  kernel.pipeline ??= pipeline;
  return kernel.pipeline;
}

export function kernelKey(spec: KernelSpec): string {
  const c = spec.constants ? Object.entries(spec.constants).sort().map(([k, v]) => `${k}=${v}`).join(',') : '';
  return `${spec.shader.name}.${spec.entry}|${c}|${[...spec.bindings].sort().join(',')}`;
}

/** Packs uniform values by member name into the struct's byte layout. Every member must be given, none extra. */
export function packUniform(kernel: string, b: KernelBinding, values: UniformValues): ArrayBuffer {
  const buf = new ArrayBuffer(b.uniformSize ?? 16);
  const f32 = new Float32Array(buf);
  const i32 = new Int32Array(buf);
  const u32 = new Uint32Array(buf);
  const members = b.members ?? [];
  for (const key of Object.keys(values)) {
    if (!members.some((m) => m.name === key)) {
      throw new Error(`kernel ${kernel}: uniform ${b.name} has no member "${key}" (members: ${members.map((m) => m.name).join(', ')})`);
    }
  }
  for (const m of members) {
    const v = values[m.name];
    if (v === undefined) throw new Error(`kernel ${kernel}: uniform ${b.name}.${m.name} was not given a value`);
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length !== m.count) throw new Error(`kernel ${kernel}: uniform ${b.name}.${m.name} needs ${m.count} values, got ${arr.length}`);
    for (let i = 0; i < m.count; i++) {
      const x = arr[i];
      const at = m.offset / 4 + i;
      if (m.scalar === 'f32') f32[at] = x;
      else {
        if (!Number.isInteger(x)) throw new Error(`kernel ${kernel}: uniform ${b.name}.${m.name} is ${m.scalar} but got ${x}`);
        if (m.scalar === 'u32') {
          if (x < 0) throw new Error(`kernel ${kernel}: uniform ${b.name}.${m.name} is u32 but got ${x}`);
          u32[at] = x;
        } else i32[at] = x;
      }
    }
  }
  return buf;
}

/** `groups` workgroups in x, folded into y where x would exceed maxX (the kernel recovers the flat index). */
export function foldedGrid(groups: number, maxX: number): [number, number, number] {
  if (groups <= maxX) return [groups, 1, 1];
  const y = Math.ceil(groups / maxX);
  return [Math.ceil(groups / y), y, 1];
}
