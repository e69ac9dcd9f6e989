// Subgroup-matrix tiles (tensor cores) of conv2d_tiled.wgsl.in: whether an adapter can run one, and the shader and
// workgroup it runs with. The tile's blocks are the workgroup-memory tiles' (same loads, same layout); a subgroup
// owns rm x rn result matrices of side `matrix`, so the workgroup is one subgroup per part of the tile, and its
// size is the adapter's subgroup size: that must be one fixed size (subgroupMinSize = subgroupMaxSize), since the
// kernel finds its subgroup as invocation index / SGS. The emulation (conv2dTuning.emulateMatrices) runs anywhere,
// with subgroups of EMULATED_SUBGROUP invocations.
import type { Shader } from '../../engine/kernel.ts';
import { SUBGROUP_MATRIX_FEATURE } from '../../engine/device.ts';
import { SHADERS } from '../../generated/shaders.ts';
import type { ConvDevice, SharedTile } from './tuning.ts';

/** Invocations per "subgroup" of the emulation: any number works; 8 keeps its test tiles' workgroups small. */
export const EMULATED_SUBGROUP = 8;

/** How a matrix tile runs: its shader (native or emulated), the subgroup size, the workgroup's invocations. */
export interface MatrixKernel {
  shader: Shader;
  subgroup: number;
  threads: number;
  /** Row stride of the A block: 16-byte aligned rows, as subgroupMatrixLoad needs (8 f16 of padding). */
  as: number;
}

const MATRIX_SHADERS: ReadonlySet<Shader> = new Set([
  SHADERS.conv2d_mma8,
  SHADERS.conv2d_mma16,
  SHADERS.conv2d_mma_emulated,
  SHADERS.conv2d_mma8_f16x,
  SHADERS.conv2d_mma16_f16x,
  SHADERS.conv2d_mma_emulated_f16x,
]);

export function isMatrixShader(shader: Shader): boolean {
  return MATRIX_SHADERS.has(shader);
}

/** Whether a conv shader rounds its operands to f16 (matrix and half tiles), so it binds the range flag (f16-range.ts). */
export function roundsToF16(shader: Shader): boolean {
  return MATRIX_SHADERS.has(shader) || shader === SHADERS.conv2d_tiled_half || shader === SHADERS.conv2d_tiled_half_f16x;
}

/** Why the adapter has no native f16 -> f32 subgroup matrices of this side, or null (and the subgroup size). */
function nativeProblem(e: ConvDevice, side: number): string | { subgroup: number } {
  if (!e.features.has(SUBGROUP_MATRIX_FEATURE)) return `the adapter has no ${SUBGROUP_MATRIX_FEATURE} feature`;
  if (!e.features.has('shader-f16')) return 'the adapter has no shader-f16 feature (the blocks hold f16)';
  const configs = e.adapter.subgroupMatrixConfigs ?? [];
  const fits = configs.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === side && c.N === side && c.K === side);
  if (!fits) return `the adapter has no f16 -> f32 subgroup matrix of ${side}x${side}x${side} (it has: ${configs.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ') || 'none'})`;
  const { subgroupMinSize: min, subgroupMaxSize: max } = e.adapter;
  if (!min || min !== max) return `the adapter's subgroup size is not one fixed size (min ${min ?? '?'}, max ${max ?? '?'})`;
  return { subgroup: max };
}

/** The sides of the subgroup matrices this adapter runs natively (16, 8), or why it runs none. */
export function nativeMatrixSides(e: ConvDevice): { sides: number[]; problem: string | null } {
  const sides = [16, 8].filter((side) => typeof nativeProblem(e, side) !== 'string');
  const problem = nativeProblem(e, 16);
  return { sides, problem: sides.length === 0 && typeof problem === 'string' ? problem : null };
}

/** The shader, subgroup size and workgroup of a matrix tile on this adapter, or why it cannot run there. */
export function matrixTileKernel(e: ConvDevice, t: SharedTile, emulate: boolean): MatrixKernel | string {
  const side = t.matrix;
  if (side !== 8 && side !== 16) return 'matrix must be 8 or 16';
  let subgroup = EMULATED_SUBGROUP;
  if (!emulate) {
    const native = nativeProblem(e, side);
    if (typeof native === 'string') return native;
    subgroup = native.subgroup;
  }
  const subgroups = (t.bm / (t.rm * side)) * (t.bn / (t.rn * side));
  const shader = emulate ? SHADERS.conv2d_mma_emulated : side === 16 ? SHADERS.conv2d_mma16 : SHADERS.conv2d_mma8;
  return { shader, subgroup, threads: subgroups * subgroup, as: t.bm + 8 };
}

/** Why the adapter cannot run this subgroup-matrix tile (emulated or not), or null. */
export function matrixTileProblem(e: ConvDevice, t: SharedTile, emulate: boolean): string | null {
  const side = t.matrix ?? 0;
  if (emulate && side !== 8) return 'the emulation has matrices of 8 only';
  if (![t.rm, t.rn].every((v) => v >= 1 && v <= 4) || t.rm * t.rn > 8) return 'rm and rn must be in 1..4 with rm*rn at most 8 (result matrices per subgroup)';
  if (t.bm % (t.rm * side) !== 0 || t.bn % (t.rn * side) !== 0 || t.bk % side !== 0) {
    return `bm must be a multiple of rm*${side}, bn of rn*${side}, bk of ${side}`;
  }
  const k = matrixTileKernel(e, t, emulate);
  if (typeof k === 'string') return k;
  if (k.threads % t.bn !== 0 || 8 * k.threads < t.bm) {
    return `its ${k.threads} invocations are not a multiple of bn (the B loads) or fewer than bm / 8 (the bias sum)`;
  }
  const l = e.limits;
  if (k.threads > l.maxComputeInvocationsPerWorkgroup || k.threads > l.maxComputeWorkgroupSizeX) return `its ${k.threads} invocations are above the adapter's limits`;
  const operand = emulate ? 4 : 2;
  const bytes = operand * t.bk * (k.as + t.bn) * (t.double ? 2 : 1) + 4 * t.bm * t.bn;
  if (bytes > l.maxComputeWorkgroupStorageSize) return `its ${bytes} bytes of workgroup memory are above the adapter's ${l.maxComputeWorkgroupStorageSize}`;
  return null;
}

/** describePlan's name of a matrix plan: "tiled_forward 64x64x32 m16 2x2 db", "... emulated". */
export function matrixDescription(entry: string, shader: Shader, c: Readonly<Record<string, number>>): string {
  const side = shader === SHADERS.conv2d_mma16 ? 16 : 8;
  const emulated = shader === SHADERS.conv2d_mma_emulated ? ' emulated' : '';
  return `${entry} ${c.BM}x${c.BN}x${c.BK} m${side} ${c.RM}x${c.RN}${c.DB === 2 ? ' db' : ''}${emulated}`;
}
