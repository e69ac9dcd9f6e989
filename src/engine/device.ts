// Getting a GPUDevice from a GPU object: the browser's navigator.gpu by default, or one given as `gpu` (in Node, the
// `webgpu` package's, made by src/node/gpu.ts: this file names no Node built-in and no package, so the browser entry
// bundles without Node shims). We ask for the adapter's real limits (big convolutions need large storage bindings)
// and for optional features only where the adapter has them; code elsewhere reads `features`, never assumes one.

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  runtime: 'browser' | 'node';
  /** Smallest subgroup size the adapter may use (GPUAdapterInfo.subgroupMinSize; undefined where not reported). */
  subgroupMinSize?: number;
  /** Largest subgroup size (GPUAdapterInfo.subgroupMaxSize; undefined where not reported). */
  subgroupMaxSize?: number;
  /**
   * The subgroup-matrix shapes and types of `chromium-experimental-subgroup-matrix` (GPUAdapterInfo.
   * subgroupMatrixConfigs), where the device has the feature; else empty.
   */
  subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[];
}

/** One supported subgroup-matrix multiply: M x K times K x N, componentType operands, resultComponentType result. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterDescription;
  features: ReadonlySet<string>;
  limits: GPUSupportedLimits;
}

export interface DeviceOptions {
  /** The WebGPU entry point; default navigator.gpu. In Node: `nodeGpu()` of chh-webgpu/node (Dawn). */
  gpu?: GPU;
  /**
   * Where the GPU comes from, as reported in AdapterDescription.runtime: default 'node' for a `gpu` given that is
   * not navigator.gpu, else 'browser'. 'browser' without a `gpu` insists on navigator.gpu.
   */
  runtime?: 'browser' | 'node';
  powerPreference?: GPUPowerPreference;
}

/**
 * Whether the adapter is a CPU implementation (SwiftShader, llvmpipe/lavapipe): 4 invocations are the SIMD lanes of
 * one CPU thread, the workgroup's other invocations run as coroutines, so barriers cost a switch per 4 invocations
 * and loads with computed addresses are gathers. Some kernels pick other shapes there.
 */
export function isCpuAdapter(adapter: AdapterDescription): boolean {
  return adapter.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${adapter.architecture} ${adapter.device} ${adapter.description}`);
}

/** The tensor-core feature (Dawn's experiment: in Node it needs the allow_unsafe_apis toggle, in Chrome --enable-unsafe-webgpu). */
export const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';

/** Optional features we use when the adapter offers them. */
export const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE as GPUFeatureName];

/** The adapter's subgroup-matrix configurations, as plain objects (none where the feature was not granted). */
function matrixConfigs(info: GPUAdapterInfo, granted: readonly string[]): SubgroupMatrixConfig[] {
  const list = (info as GPUAdapterInfo & { subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[] }).subgroupMatrixConfigs;
  if (!granted.includes(SUBGROUP_MATRIX_FEATURE) || !list) return [];
  return [...list].map(({ componentType, resultComponentType, M, N, K }) => ({ componentType, resultComponentType, M, N, K }));
}

/** The GPU object to use, and which runtime it belongs to, with an error that says what to do where there is none. */
function chooseGpu(options: DeviceOptions): { gpu: GPU; runtime: 'browser' | 'node' } {
  const browserGpu = typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
  if (options.gpu) return { gpu: options.gpu, runtime: options.runtime ?? (options.gpu === browserGpu ? 'browser' : 'node') };
  if (options.runtime !== 'node' && browserGpu) return { gpu: browserGpu, runtime: 'browser' };
  const inNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
  if (options.runtime === 'node' || inNode) {
    throw new Error(
      "No WebGPU in Node without a `gpu`: use createNodeEngine() or nodeGpu() from 'chh-webgpu/node' (Dawn; it needs the " +
        'optional peer dependency: npm install webgpu).',
    );
  }
  throw new Error(
    'WebGPU is not available in this browser (navigator.gpu is missing). Use a recent Chrome or Edge, serve the page ' +
      'from https:// or http://localhost, and on Linux start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan.',
  );
}

export async function requestGpu(options: DeviceOptions = {}): Promise<GpuContext> {
  const { gpu, runtime } = chooseGpu(options);
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
      ...(typeof info.subgroupMaxSize === 'number' ? { subgroupMaxSize: info.subgroupMaxSize } : {}),
      subgroupMatrixConfigs: matrixConfigs(info, features),
    },
  };
}
