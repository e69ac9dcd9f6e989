/// <reference types="@webgpu/types" preserve="true" />
// chh-webgpu/node: what Node adds to the library (src/index.ts, imported as 'chh-webgpu'): WebGPU through Dawn,
// the `webgpu` package, an optional peer dependency loaded only when an engine is made.
//   import { loadModel, predictBmp } from 'chh-webgpu';
//   import { createNodeEngine } from 'chh-webgpu/node';
//   const engine = await createNodeEngine();
// The `/// <reference>` above stays in the declarations, so a consumer's type check finds GPUDevice & co.
export { nodeGpu, createNodeEngine, type NodeGpuOptions, type NodeEngineOptions } from './node/gpu.ts';
