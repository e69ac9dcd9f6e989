// Getting a GPUDevice, the same way in the browser (navigator.gpu) and in Node (the `webgpu` package, Dawn).
// We ask for the adapter's real limits (big convolutions need large storage bindings) and for optional
// features only where the adapter has them; code elsewhere reads `features`, never assumes one.

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  runtime: 'browser' | 'node';
  /** Smallest subgroup size the adapter may use (GPUAdapterInfo.subgroupMinSize; undefined where not reported). */
  subgroupMinSize?: number;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterDescription;
  features: ReadonlySet<string>;
  limits: GPUSupportedLimits;
}

export interface DeviceOptions {
  /** Force the browser or Node path; by default the browser's navigator.gpu is used when present. */
  runtime?: 'browser' | 'node';
  powerPreference?: GPUPowerPreference;
  /** Extra Dawn toggles for Node, e.g. 'enable-dawn-features=allow_unsafe_apis'. */
  dawnFlags?: string[];
}

/**
 * Whether the adapter is a CPU implementation (SwiftShader, llvmpipe/lavapipe): 4 invocations are the SIMD lanes of
 * one CPU thread, the workgroup's other invocations run as coroutines, so barriers cost a switch per 4 invocations
 * and loads with computed addresses are gathers. Some kernels pick other shapes there.
 */
export function isCpuAdapter(adapter: AdapterDescription): boolean {
  return adapter.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${adapter.architecture} ${adapter.device} ${adapter.description}`);
}

/** Optional features we use when the adapter offers them. */
export const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups'];

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let nodeGpu: Promise<GPU> | null = null;

async function getNodeGpu(flags: string[]): Promise<GPU> {
  if (nodeGpu) return nodeGpu;
  nodeGpu = (async () => {
    const fs = await import('node:fs');
    // Dawn reads the Vulkan ICD list when the addon loads, so this must happen before the import below.
    // Without a GPU driver installed we fall back to the SwiftShader ICD that Debian's chromium ships;
    // Debian's own lavapipe (mesa 22) is too old for Dawn, so it does not count as a driver here.
    if (!process.env.VK_ICD_FILENAMES && !hasUsableVulkanDriver(fs)) {
      if (fs.existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    }
    process.env.NODEVICE_SELECT ??= '1';
    const moduleName = 'webgpu';
    const mod = (await import(/* @vite-ignore */ moduleName)) as {
      create: (flags: string[]) => GPU;
      globals: Record<string, unknown>;
    };
    // The WebGPU enums and classes (GPUBufferUsage, ...) must be globals, as in a browser.
    Object.assign(globalThis, mod.globals);
    // Timestamps are quantised to 65 us by default in Dawn; benchmarks need them exact.
    return mod.create(['disable-dawn-features=timestamp_quantization', ...flags]);
  })();
  return nodeGpu;
}

function hasUsableVulkanDriver(fs: typeof import('node:fs')): boolean {
  const dirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    const icds = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && !f.startsWith('lvp_icd'));
    if (icds.length > 0) return true;
  }
  return false;
}

export async function requestGpu(options: DeviceOptions = {}): Promise<GpuContext> {
  const browserGpu = typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
  const runtime = options.runtime ?? (browserGpu ? 'browser' : 'node');
  let gpu: GPU;
  if (runtime === 'browser') {
    if (!browserGpu) {
      throw new Error(
        'WebGPU is not available in this browser (navigator.gpu is missing). Use a recent Chrome or Edge, serve the page ' +
          'from https:// or http://localhost, and on Linux start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan.',
      );
    }
    gpu = browserGpu;
  } else {
    gpu = await getNodeGpu(options.dawnFlags ?? []);
  }
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new Error(
      runtime === 'browser'
        ? 'WebGPU has no adapter: the GPU may be blocklisted. In Chrome see chrome://gpu; on Linux try ' +
            '--enable-unsafe-webgpu --enable-features=Vulkan (and --use-webgpu-adapter=swiftshader without a GPU).'
        : `Dawn found no WebGPU adapter. Install the Vulkan loader and a driver (Debian: apt-get install libvulkan1 chromium, ` +
            `whose SwiftShader ICD is used when no GPU driver is present), or set VK_ICD_FILENAMES.`,
    );
  }
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const l = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
  };
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  return {
    device,
    features: new Set<string>(features),
    limits: device.limits,
    adapter: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter),
      runtime,
      ...(typeof info.subgroupMinSize === 'number' ? { subgroupMinSize: info.subgroupMinSize } : {}),
    },
  };
}
