// The fresh project test/package/package.test.ts installs the packed tarball into: a page predicting landmarks, a
// Node script, and strict tsconfigs that type-check both against the package's declarations alone (types: [], so
// neither @types/node nor the repository's @webgpu/types: the declarations must bring what they use).

const MAIN_TS = `import { Engine, MODEL_PRESETS, ResnetUnet, encodeBmpGray8, generateSyntheticCase, predictBmp, type PredictedLandmark } from 'chh-webgpu';

// engine.device must be a real GPUDevice, not an any left by types that did not resolve.
type IsAny<T> = 0 extends 1 & T ? true : false;
const out = document.getElementById('out')!;
try {
  const engine = await Engine.create();
  const typed: IsAny<typeof engine.device> = false;
  const device: GPUDevice = engine.device;
  const model = new ResnetUnet({ ...MODEL_PRESETS.tiny, landmarks: 19 });
  const state = model.allocate(engine, 3);
  const c = generateSyntheticCase(4, 0, { width: 150 });
  const bmp = encodeBmpGray8({ width: c.width, height: c.height, data: c.pixels });
  const { landmarks } = await predictBmp(engine, model, state, bmp, { width: 64, height: 96 }, { pixelSizeMm: 0.1 });
  const line = (l: PredictedLandmark): string => \`\${l.name}: (\${l.x.toFixed(1)}, \${l.y.toFixed(1)}) px, ERE \${l.ereMm.toFixed(2)} mm\`;
  out.textContent = landmarks.map(line).join('\\n');
  console.log(typed, device.label);
} catch (e) {
  out.textContent = \`failed: \${String(e)}\`;
}
`;

const NODE_TS = `import { Engine, type Engine as EngineType } from 'chh-webgpu';
import { createNodeEngine, nodeGpu, type NodeEngineOptions } from 'chh-webgpu/node';

const options: NodeEngineOptions = { dawnFlags: [], maxDispatchesPerSubmit: 1024 };
const engine: EngineType = await createNodeEngine(options);
const other = await Engine.create({ gpu: await nodeGpu() });
const limit: number = engine.device.limits.maxBufferSize + other.limits.maxBufferSize;
console.log(limit);
engine.destroy();
other.destroy();
`;

const NODE_CHECK_MJS = `import { Engine } from 'chh-webgpu';
import { createNodeEngine } from 'chh-webgpu/node';

console.log(typeof Engine);
const message = await createNodeEngine().then(() => 'made an engine without webgpu', (e) => e.message);
console.log(message.slice(message.indexOf('install the optional')));
`;

/** With webgpu installed: the same prediction in Node, the engine from chh-webgpu/node, the model from chh-webgpu. */
const NODE_PREDICT_MJS = `import { MODEL_PRESETS, ResnetUnet, encodeBmpGray8, generateSyntheticCase, predictBmp } from 'chh-webgpu';
import { createNodeEngine } from 'chh-webgpu/node';

const engine = await createNodeEngine();
const model = new ResnetUnet({ ...MODEL_PRESETS.tiny, landmarks: 19 });
const state = model.allocate(engine, 3);
const c = generateSyntheticCase(4, 0, { width: 150 });
const bmp = encodeBmpGray8({ width: c.width, height: c.height, data: c.pixels });
const { landmarks } = await predictBmp(engine, model, state, bmp, { width: 64, height: 96 }, { pixelSizeMm: 0.1 });
console.log(JSON.stringify({ runtime: engine.adapter.runtime, landmarks: landmarks.length, first: landmarks[0].name }));
engine.destroy();
`;

const INDEX_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>chh-webgpu consumer</title><link rel="icon" href="data:,"></head>
<body><pre id="out">predicting…</pre><script type="module" src="/main.ts"></script></body>
</html>
`;

function tsconfig(resolution: 'bundler' | 'node16' | 'nodenext'): string {
  const compilerOptions = {
    target: 'es2022',
    module: resolution === 'bundler' ? 'esnext' : resolution,
    moduleResolution: resolution,
    lib: ['es2022', 'dom'],
    types: [],
    strict: true,
    skipLibCheck: false,
    noEmit: true,
  };
  return JSON.stringify({ compilerOptions, files: ['main.ts', 'node.ts'] }, null, 2);
}

export const CONSUMER_FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2),
  'main.ts': MAIN_TS,
  'node.ts': NODE_TS,
  'node-check.mjs': NODE_CHECK_MJS,
  'node-predict.mjs': NODE_PREDICT_MJS,
  'index.html': INDEX_HTML,
  'tsconfig.bundler.json': tsconfig('bundler'),
  'tsconfig.node16.json': tsconfig('node16'),
  'tsconfig.nodenext.json': tsconfig('nodenext'),
};
