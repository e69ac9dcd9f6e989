// The TF.js anchor in Node (bench/tfjs-node.ts): TF.js's WebGPU backend on Dawn through the navigator.gpu shim, the
// model code the page runs (bench/tfjs-model.ts), end to end on the machine's adapter. The benchmark runs the
// paper's ResNet34-UNet; here the `tiny` preset of the same architecture at 32x32, the smallest input, keeps the
// file to about 10 s on SwiftShader (18 s at 64x64; the paper's model takes about a minute at 32x32 there, two at
// 64x64).
import { describe, expect, it } from 'vitest';
import { loadTfjsNode, runTfjsNode } from '../../bench/tfjs-node.ts';
import { createNodeEngine, nodeGpu } from '../../src/node/gpu.ts';
import { MODEL_PRESETS } from '../../src/nn/unet.ts';

describe('TF.js anchor in Node', () => {
  it('loads the WebGPU backend on the GPU of nodeGpu()', async () => {
    const tf = await loadTfjsNode();
    expect((globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu).toBe(await nodeGpu());
    expect(tf.getBackend()).toBe('webgpu');
    expect(await loadTfjsNode()).toBe(tf); // loaded once per process
  });

  it('times the forward and the training step with finite losses, on the adapter our engine gets', async () => {
    const r = await runTfjsNode({ h: 32, w: 32, batch: 1, reps: 1, model: MODEL_PRESETS.tiny });
    expect(r).toMatchObject({ runtime: 'node', backend: 'webgpu', version: '4.22.0' });
    expect(r.forward_ms).toHaveLength(1);
    expect(r.train_step_ms).toHaveLength(1);
    for (const t of [...r.forward_ms, ...r.train_step_ms, r.forward_warmup_ms, r.train_step_warmup_ms]) {
      expect(Number.isFinite(t) && t > 0).toBe(true);
    }
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.loss).toBeGreaterThan(0); // an NLL over 32x32 pixels starts near ln(1024) = 6.9
    expect(r.parameters).toBeGreaterThan(0);
    expect(r.peak_bytes).toBeGreaterThan(0);
    expect(r.top_kernels.map((k) => k.name)).toContain('Conv2D');
    const engine = await createNodeEngine();
    try {
      expect(r.adapter).toEqual({ vendor: engine.adapter.vendor, architecture: engine.adapter.architecture });
    } finally {
      engine.destroy();
    }
  });
});
