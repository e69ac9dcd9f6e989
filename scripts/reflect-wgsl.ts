// Build-time reflection of a WGSL shader (wgsl_reflect): for every compute entry point, its bindings (name, number,
// uniform or storage, and each uniform struct's members with their offsets and scalar types) and its workgroup size.
// scripts/embed-shaders.ts stores the result beside the code, so the engine never parses WGSL at run time.
import { WgslReflect, ResourceType } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { KernelBinding, ShaderEntry, UniformMember } from '../src/engine/kernel.ts';

function scalarOf(typeName: string, where: string): { scalar: UniformMember['scalar']; count: number } {
  const m = /^(?:vec([234])<)?(f32|i32|u32)>?$/.exec(typeName.replace(/\s/g, ''));
  const short = /^vec([234])([fiu])$/.exec(typeName);
  if (short) return { scalar: `${short[2]}32` as UniformMember['scalar'], count: Number(short[1]) };
  if (!m) throw new Error(`${where}: uniform member type ${typeName} is not supported (use f32, i32, u32 or vecN of them)`);
  return { scalar: m[2] as UniformMember['scalar'], count: m[1] ? Number(m[1]) : 1 };
}

type Resource = WgslReflect['entry']['compute'][number]['resources'][number];

function bindingOf(res: Resource, where: string): KernelBinding {
  if (res.group !== 0) throw new Error(`${where}: binding "${res.name}" is in group ${res.group}; kernels use group 0 only`);
  if (res.resourceType === ResourceType.Uniform) {
    const members: UniformMember[] = (res.members ?? []).map((m) => ({
      name: m.name,
      offset: m.offset,
      ...scalarOf(m.type.getTypeName(), `${where}, uniform ${res.name}.${m.name}`),
    }));
    return { name: res.name, binding: res.binding, kind: 'uniform', uniformSize: Math.max(16, Math.ceil(res.size / 16) * 16), members };
  }
  if (res.resourceType === ResourceType.Storage) {
    return { name: res.name, binding: res.binding, kind: res.access === 'read' ? 'read-only-storage' : 'storage' };
  }
  throw new Error(`${where}: binding "${res.name}" is not a buffer; kernels bind only uniform and storage buffers`);
}

/**
 * Every compute entry point of a shader. Workgroup sizes given by override constants come out as the constants'
 * defaults (the engine uses workgroupSize only for kernels with literal sizes).
 */
export function reflectShader(name: string, code: string): Record<string, ShaderEntry> {
  let r: WgslReflect;
  try {
    r = new WgslReflect(code);
  } catch (e) {
    throw new Error(`shader ${name} does not parse: ${(e as Error).message}`);
  }
  const entries: Record<string, ShaderEntry> = {};
  for (const fn of r.entry.compute) {
    const bindings = fn.resources.map((res) => bindingOf(res, `kernel ${name}.${fn.name}`)).sort((a, b) => a.binding - b.binding);
    const wg = fn.workgroupSize ?? [1, 1, 1];
    entries[fn.name] = { bindings, workgroupSize: [wg[0] ?? 1, wg[1] ?? 1, wg[2] ?? 1] };
  }
  return entries;
}
