// The benchmark's anchor in Node (`--runtime node`): TF.js 4.22's WebGPU backend on Dawn, the same `GPU` as our
// engine's (src/node/gpu.ts's nodeGpu: one Dawn instance per process, so the same adapter), running the model of
// bench/tfjs-model.ts.
//
// What TF.js needs in Node, and what this file gives it:
// - `navigator.gpu`. The backend registers itself only if globalThis.navigator.gpu exists when its module is
//   loaded, then calls navigator.gpu.requestAdapter() when the backend is first selected; Node has no navigator
//   (Node 20) or one without `gpu` (Node 21+). installNavigatorGpu puts Dawn's GPU there before the load.
// - The WebGPU globals it names (GPUBufferUsage, GPUMapMode, GPUTextureUsage): nodeGpu installs Dawn's.
// - Nothing else on the benchmark's path: no window, self, document or canvas (tfjs-core takes Node for its
//   platform, so the WebGL backend does not register). Two pieces of the WebGPU backend cannot work in Node and
//   are not used here: readSync (dataSync()/arraySync() of a tensor in GPU memory) copies through OffscreenCanvas
//   'webgpu' and '2d' contexts, and fromPixels reads canvases and images; the model reads its results with
//   `await data()` only. WEBGPU_USE_PROFILE_TOOL would create a DOM canvas; it is off by default.
// - The module format: TF.js's ES module builds do not load in Node (dist/index.js imports directories and
//   extensionless paths, which Node's ESM resolver rejects; tf.fesm.js calls require('util'), which ESM scope
//   lacks), so this loads the CommonJS builds (dist/tf.node.js, dist/tf-backend-webgpu.node.js, their packages'
//   "main") through createRequire; both resolve @tensorflow/tfjs-core to the same module, one engine.
import { createRequire } from 'node:module';
import { nodeGpu } from '../src/node/gpu.ts';
import { initWebgpu, runTfjsOn, type TF, type TfjsConfig, type TfjsResult } from './tfjs-model.ts';

/** Makes `navigator.gpu` return `gpu`, on Node's own navigator where it has one. */
export function installNavigatorGpu(gpu: GPU): void {
  const g = globalThis as { navigator?: object };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true, enumerable: false });
  }
  Object.defineProperty(g.navigator!, 'gpu', { value: gpu, configurable: true, writable: true, enumerable: true });
}

let loaded: Promise<TF> | null = null;

/** TF.js (CommonJS) with its WebGPU backend on Dawn, selected and initialised; loaded once per process. */
export function loadTfjsNode(): Promise<TF> {
  loaded ??= (async () => {
    installNavigatorGpu(await nodeGpu());
    const require = createRequire(import.meta.url);
    const tf: TF = require('@tensorflow/tfjs');
    require('@tensorflow/tfjs-backend-webgpu');
    await initWebgpu(tf);
    return tf;
  })();
  loaded.catch(() => (loaded = null));
  return loaded;
}

/** The anchor in this process, on Dawn. */
export async function runTfjsNode(cfg: TfjsConfig): Promise<TfjsResult> {
  return runTfjsOn(await loadTfjsNode(), cfg, 'node');
}
