// The browser path: the engine running on Chromium's own WebGPU (SwiftShader here), not only on Dawn in Node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser, type BrowserSession } from '../../src/node/browser.ts';
import type { BrowserRunResult } from './runtime-in-browser.ts';
import type { BrowserPipelineResult } from '../../src/pipeline/run-in-page.ts';
import { RUNS, type RunSettings } from '../../src/chh/config.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';

let session: BrowserSession;

beforeAll(async () => {
  session = await openBrowser();
}, 120_000);

afterAll(async () => {
  await session?.close();
});

describe('in headless Chromium', () => {
  it('runs forward, backward and an Adam step on the browser WebGPU adapter', async () => {
    const x = [1, -2, 3, -4, 0.5];
    const w = [0.5, 0.25, -1, 2, 1];
    const r = await session.call<BrowserRunResult>('test/node/runtime-in-browser.ts', 'runtimeRoundTrip', { x, w });
    expect(r.hasNavigatorGpu).toBe(true);
    expect(r.adapter.runtime).toBe('browser');
    // CPU reference: loss = mean(relu(x*w) + w); dloss/dw = (x * [x*w > 0] + 1) / n
    const n = x.length;
    const loss = x.reduce((s, xi, i) => s + Math.max(xi * w[i], 0) + w[i], 0) / n;
    const grad = x.map((xi, i) => ((xi * w[i] > 0 ? xi : 0) + 1) / n);
    expect(r.loss).toBeCloseTo(loss, 6);
    r.grad.forEach((g, i) => expect(g).toBeCloseTo(grad[i], 6));
    // First Adam step moves each weight by lr * sign(grad) (up to eps).
    r.weightAfterAdam.forEach((v, i) => expect(v).toBeCloseTo(w[i] - 0.1 * Math.sign(grad[i]), 5));
    expect(r.disposedError).toMatch(/relu: x \("x" \[5\]\) was disposed/);
  });

  it('runs the whole CHH pipeline in the page: data, training, calibration, evaluation, report', async () => {
    const options: RunSettings = {
      ...RUNS.quick,
      width: 64,
      height: 64,
      originalWidth: 193,
      landmarks: 5,
      trainImages: 4,
      calibrationImages: 4,
      testImages: 2,
      epochs: 2,
      calibrationEpochs: 1,
    };
    const events: string[] = [];
    const r = await session.call<BrowserPipelineResult>('src/pipeline/run-in-page.ts', 'runPipelineInBrowser', options, (line) => events.push(line));
    expect(r.adapter).toMatch(/\(browser\)/);
    expect(r.training.map((e) => e.epoch)).toEqual([1, 2]);
    expect(r.training.every((e) => Number.isFinite(e.meanLoss))).toBe(true);
    expect(r.evaluation.images.length).toBe(2);
    expect(r.evaluation.summary.count).toBe(10);
    // A Float32Array crosses from the page as a plain object of its values.
    expect(Object.values(r.calibration.temperatures)).toHaveLength(5);
    expect(r.calibration.settings).toMatchObject({ objective: 'ece', augmented: false }); // the quick run's
    expect(r.reportHtml).toMatch(/<svg/);
    expect(r.reportHtml).toContain('temperature scaling: ECE objective');
    expect(r.reportHtml).toContain('<b id="calibration-objective">ECE of the first half');
    expect(events.some((l) => l.startsWith('@@chh ') && l.includes('"progress"'))).toBe(true);
    const weights = parseSafetensors(Buffer.from(r.weightsBase64, 'base64'));
    expect(weights.tensors.get('temperatures')!.shape).toEqual([1, 5, 1, 1]);
  });
});
