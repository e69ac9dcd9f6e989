// A kernel is one entry point of one WGSL shader, compiled with a set of override constants.
// The bind group layout is built from the WGSL itself (wgsl_reflect), and checked against the binding names the
// TypeScript side declares, so a mismatch is an error when the kernel loads, naming the kernel and the binding.
// Uniform structs are packed by member name from the reflected layout: no hand-computed offsets in TypeScript.
import { WgslReflect, ResourceType } from 'wgsl_reflect/wgsl_reflect.module.js';

/** A WGSL module: an op's .wgsl file (or a template's variant), embedded by scripts/embed-shaders.ts. */
export interface Shader {
  readonly name: string;
  readonly code: string;
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

interface UniformMember {
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

export interface Kernel {
  readonly name: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly bindings: readonly KernelBinding[];
  readonly workgroupSize: readonly [number, number, number];
}

const reflections = new WeakMap<Shader, WgslReflect>();

function reflect(shader: Shader): WgslReflect {
  let r = reflections.get(shader);
  if (!r) {
    try {
      r = new WgslReflect(shader.code);
    } catch (e) {
      throw new Error(`shader ${shader.name} does not parse: ${(e as Error).message}`);
    }
    reflections.set(shader, r);
  }
  return r;
}

function scalarOf(typeName: string, where: string): { scalar: UniformMember['scalar']; count: number } {
  const m = /^(?:vec([234])<)?(f32|i32|u32)>?$/.exec(typeName.replace(/\s/g, ''));
  const short = /^vec([234])([fiu])$/.exec(typeName);
  if (short) return { scalar: `${short[2]}32` as UniformMember['scalar'], count: Number(short[1]) };
  if (!m) throw new Error(`${where}: uniform member type ${typeName} is not supported (use f32, i32, u32 or vecN of them)`);
  return { scalar: m[2] as UniformMember['scalar'], count: m[1] ? Number(m[1]) : 1 };
}

/** Reflects the entry point's bindings and compares them with what the TypeScript side declares. */
export function reflectKernel(spec: KernelSpec): { bindings: KernelBinding[]; workgroupSize: [number, number, number] } {
  const name = `${spec.shader.name}.${spec.entry}`;
  const r = reflect(spec.shader);
  const fn = r.entry.compute.find((f) => f.name === spec.entry);
  if (!fn) {
    const have = r.entry.compute.map((f) => f.name).join(', ');
    throw new Error(`kernel ${name}: shader ${spec.shader.name} has no compute entry point "${spec.entry}" (it has: ${have})`);
  }
  const bindings: KernelBinding[] = [];
  for (const res of fn.resources) {
    if (res.group !== 0) throw new Error(`kernel ${name}: binding "${res.name}" is in group ${res.group}; kernels use group 0 only`);
    if (res.resourceType === ResourceType.Uniform) {
      const members: UniformMember[] = (res.members ?? []).map((m) => ({
        name: m.name,
        offset: m.offset,
        ...scalarOf(m.type.getTypeName(), `kernel ${name}, uniform ${res.name}.${m.name}`),
      }));
      bindings.push({ name: res.name, binding: res.binding, kind: 'uniform', uniformSize: Math.max(16, Math.ceil(res.size / 16) * 16), members });
    } else if (res.resourceType === ResourceType.Storage) {
      bindings.push({ name: res.name, binding: res.binding, kind: res.access === 'read' ? 'read-only-storage' : 'storage' });
    } else {
      throw new Error(`kernel ${name}: binding "${res.name}" is not a buffer; kernels bind only uniform and storage buffers`);
    }
  }
  bindings.sort((a, b) => a.binding - b.binding);
  const declared = new Set(spec.bindings);
  const inShader = new Set(bindings.map((b) => b.name));
  for (const b of bindings) {
    if (!declared.has(b.name)) {
      throw new Error(`kernel ${name}: the WGSL uses binding "${b.name}" (@binding(${b.binding})) that the TypeScript side does not provide`);
    }
  }
  for (const d of declared) {
    if (!inShader.has(d)) {
      throw new Error(`kernel ${name}: the TypeScript side provides binding "${d}" that the WGSL entry point does not use`);
    }
  }
  const wg = fn.workgroupSize ?? [1, 1, 1];
  return { bindings, workgroupSize: [wg[0] ?? 1, wg[1] ?? 1, wg[2] ?? 1] };
}

export function compileKernel(device: GPUDevice, spec: KernelSpec): Kernel {
  const name = `${spec.shader.name}.${spec.entry}`;
  const { bindings, workgroupSize } = reflectKernel(spec);
  const layout = device.createBindGroupLayout({
    label: name,
    entries: bindings.map((b) => ({ binding: b.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.kind } })),
  });
  const module = device.createShaderModule({ label: spec.shader.name, code: spec.shader.code });
  const pipeline = device.createComputePipeline({
    label: name,
    layout: device.createPipelineLayout({ label: name, bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: spec.entry, constants: spec.constants ? { ...spec.constants } : undefined },
  });
  return { name, pipeline, layout, bindings, workgroupSize };
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
