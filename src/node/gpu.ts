// WebGPU in Node: the `webgpu` package (Dawn), an optional peer dependency, loaded here and nowhere else, so the
// browser entry (src/index.ts) names no Node built-in and no Dawn. Published as `chh-webgpu/node`
// (src/index-node.ts); the CLI, the bench and the tests get their engines here too.
import { existsSync, readdirSync } from 'node:fs';
import { Engine, type EngineOptions } from '../engine/engine.ts';
import { loadTuneCache, tuneCachePath } from './tune-store.ts';

export interface NodeGpuOptions {
  /** Extra Dawn toggles, e.g. 'enable-dawn-features=allow_unsafe_apis'. */
  dawnFlags?: string[];
}

export type NodeEngineOptions = Omit<EngineOptions, 'gpu' | 'runtime'> &
  NodeGpuOptions & {
    /** The autotune cache to apply (src/node/tune-store.ts); default tuneCachePath(); null: none. */
    tuneCache?: string | null;
  };

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const MISSING_WEBGPU =
  "chh-webgpu/node runs WebGPU through the `webgpu` package (Dawn), which is not installed: install the optional peer dependency: npm install webgpu";

/** One Dawn instance per set of flags: an instance is costly, and a program asks for the same one many times. */
const gpus = new Map<string, Promise<GPU>>();

/** Whether a Vulkan driver other than Debian's lavapipe (mesa 22, too old for Dawn) is installed. */
function hasUsableVulkanDriver(): boolean {
  const dirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
  return dirs.some((dir) => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.json') && !f.startsWith('lvp_icd')));
}

async function loadDawn(): Promise<typeof import('webgpu')> {
  try {
    return await import('webgpu');
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === 'ERR_MODULE_NOT_FOUND' && /'webgpu'/.test(err.message ?? '')) throw new Error(MISSING_WEBGPU, { cause: e });
    throw e;
  }
}

async function makeGpu(flags: string[]): Promise<GPU> {
  // Dawn reads the Vulkan ICD list when the addon loads, so this must happen before the import. Without a GPU
  // driver we fall back to the SwiftShader ICD that Debian's chromium ships.
  if (!process.env.VK_ICD_FILENAMES && !hasUsableVulkanDriver() && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  process.env.NODEVICE_SELECT ??= '1';
  const dawn = await loadDawn();
  // The WebGPU enums and classes (GPUBufferUsage, ...) must be globals, as in a browser.
  Object.assign(globalThis, dawn.globals);
  // Timestamps are quantised to 65 us by default in Dawn; benchmarks need them exact.
  return dawn.create(['disable-dawn-features=timestamp_quantization', ...flags]);
}

/** Node's WebGPU entry point (Dawn), the `gpu` to give Engine.create or requestGpu. */
export function nodeGpu(options: NodeGpuOptions = {}): Promise<GPU> {
  const flags = options.dawnFlags ?? [];
  const key = flags.join('\n');
  let gpu = gpus.get(key);
  if (!gpu) {
    gpu = makeGpu(flags);
    gpus.set(key, gpu);
    gpu.catch(() => gpus.delete(key)); // a failed load (webgpu missing) is retried on the next call
  }
  return gpu;
}

/**
 * Dawn toggles from CHH_DAWN_FLAGS (space- or comma-separated), for the CLI and the bench: e.g.
 * `CHH_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis`, which Dawn needs to expose subgroup matrices (tensor cores).
 */
export function envDawnFlags(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  return (env.CHH_DAWN_FLAGS ?? '').split(/[\s,]+/).filter((f) => f.length > 0);
}

/**
 * An Engine on Node's WebGPU (Dawn): `Engine.create({ gpu: await nodeGpu(options), ...options })`, with the
 * autotuner's choices for its adapter from the cache file. Without dawnFlags, those of CHH_DAWN_FLAGS.
 */
export async function createNodeEngine(options: NodeEngineOptions = {}): Promise<Engine> {
  const { dawnFlags = envDawnFlags(), tuneCache = tuneCachePath(), ...engineOptions } = options;
  const engine = await Engine.create({ ...engineOptions, gpu: await nodeGpu({ dawnFlags }), runtime: 'node' });
  await loadTuneCache(engine, tuneCache);
  return engine;
}
