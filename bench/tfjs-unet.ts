// The benchmark's anchor in the page: TF.js 4.22 and its WebGPU backend loaded from their UMD bundles
// (node_modules, served by Vite) as classic scripts, which need no bundling, then the model of bench/tfjs-model.ts
// in the same browser and on the same adapter as our engine. Node's counterpart: bench/tfjs-node.ts.
import { initWebgpu, runTfjsOn, type TF, type TfjsConfig, type TfjsResult } from './tfjs-model.ts';

export type { TfjsConfig, TfjsResult } from './tfjs-model.ts';

function loadScript(src: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(s);
  });
}

/** TF.js with its WebGPU backend, loaded once per page and initialised. */
async function loadTfjs(): Promise<TF> {
  const w = window as unknown as { tf?: TF };
  if (!w.tf) {
    await loadScript('/node_modules/@tensorflow/tfjs/dist/tf.min.js');
    await loadScript('/node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js');
  }
  await initWebgpu(w.tf);
  return w.tf;
}

export async function runTfjs(cfg: TfjsConfig): Promise<TfjsResult> {
  return runTfjsOn(await loadTfjs(), cfg, 'browser');
}
