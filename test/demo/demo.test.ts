// The demo page (demo/) end to end in real headless Chromium: served by Vite as `npm run demo` serves it, it finds
// the WebGPU adapter, trains a tiny model on synthetic data in its training worker (the loss falls, the live heatmap
// is drawn), pauses and resumes, survives a device loss in the worker, calibrates and evaluates (metrics, the four
// plots, overlays with ERE flags), predicts on a picked BMP, shows each step's error in its panel, fills the predict
// size from weights, and leaves a screenshot in test-output/demo.png. Meanwhile the page must stay responsive: no
// long task on its main thread during training (over 50 ms, plus whatever stall the machine itself adds, as an
// idle worker sees it), clicks handled within 50 ms, and a 5 ms timer on the main thread late by under 50 ms in 99
// ticks of 100 (on these two shared cores SwiftShader's GPU threads compete with the page). CHH_DEMO_VERBOSE=1 shows
// the page's and the worker's console; CHH_DEMO_TRACE=1 writes a Chromium trace of training to
// test-output/demo-trace.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'puppeteer';
import type { ViteDevServer } from 'vite';
import { chromeFlags, findChrome, repoRoot } from '../../src/node/browser.ts';
import { generateSyntheticCase } from '../../src/data/synthetic/dataset.ts';
import { encodeBmpGray8 } from '../../src/io/bmp.ts';

const OUT = join(repoRoot, 'test-output');
// CHH_DEMO_DOCS=1: a longer run at 96x128 whose screenshot becomes docs/images/demo.png (minutes on SwiftShader).
const DOCS = process.env.CHH_DEMO_DOCS === '1';
const CFG = DOCS
  ? { train: 16, calibration: 8, test: 4, width: 96, height: 128, batch: 4, epochs: 10, heatmapEvery: 4 }
  : { train: 8, calibration: 4, test: 4, width: 64, height: 64, batch: 2, epochs: 2, heatmapEvery: 2 };
const STEPS_PER_EPOCH = Math.ceil(CFG.train / CFG.batch);

let server: ViteDevServer;
let browser: Browser;
let page: Page;
let origin: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  const { createServer } = await import('vite');
  const puppeteer = (await import('puppeteer')).default;
  server = await createServer({
    configFile: join(repoRoot, 'demo', 'vite.config.ts'),
    root: join(repoRoot, 'demo'),
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite did not start');
  origin = `http://localhost:${address.port}`; // localhost: a secure context, so navigator.gpu exists
  browser = await puppeteer.launch({ executablePath: findChrome(), headless: true, args: chromeFlags(), protocolTimeout: 0 });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (process.env.CHH_DEMO_VERBOSE) console.log(`[page ${m.type()}] ${m.text()}`);
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  // The training worker's console and uncaught errors count as the page's.
  page.on('workercreated', (w) => {
    w.on('console', (m) => {
      if (process.env.CHH_DEMO_VERBOSE) console.log(`[worker ${m.type()}] ${m.text()}`);
      if (m.type() === 'error') pageErrors.push(`worker: ${m.text()}`);
    });
    w.on('error', (e) => pageErrors.push(`worker: ${String(e)}`));
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

type DemoState = {
  phase: string;
  message: string;
  webgpu: string;
  adapter: string;
  losses: number[];
  epochLosses: number[];
  heatmapUpdates: number;
  evaluation: null | { mreMm: number; sdr: { percent: number }[]; eceBefore: number; eceAfter: number; testEceBefore: number | null; testEceAfter: number; auc: number | null; flagged: number; landmarks: number };
  prediction: null | { x: number; y: number; ereMm: number; erroneous: boolean }[];
  errors: string[];
  stepErrors: { train?: string; evaluate?: string; predict?: string };
  longTasks: { start: number; duration: number }[];
  slowInputs: { name: string; start: number; delay: number; duration: number }[];
};

type DemoWorker = { loseDevice(): Promise<void>; weights(): Promise<Uint8Array> };

const demoState = (): Promise<DemoState> =>
  page.evaluate(() => {
    const { worker: _w, ...rest } = (window as unknown as { __chhDemo: DemoState & { worker: unknown } }).__chhDemo;
    return JSON.parse(JSON.stringify(rest)) as DemoState;
  });

async function waitForPhase(phases: string[], timeout: number): Promise<DemoState> {
  try {
    await page.waitForFunction(
      (ps: string[]) => {
        const s = (window as unknown as { __chhDemo?: { phase: string } }).__chhDemo;
        return !!s && (ps.includes(s.phase) || s.phase === 'error');
      },
      { timeout, polling: 250 },
      phases,
    );
  } catch (e) {
    const log = await page.$eval('#log', (el) => el.textContent ?? '').catch(() => '');
    throw new Error(`waiting for phase ${phases.join(' or ')}: ${(e as Error).message}; the page is in ${(await demoState()).phase}; its log:\n${log}`);
  }
  const s = await demoState();
  if (s.phase === 'error') throw new Error(`the page failed: ${s.message}\n${s.errors.join('\n')}\n${pageErrors.join('\n')}`);
  return s;
}

async function setValue(id: string, value: string | number): Promise<void> {
  await page.$eval(`#${id}`, (el, v) => ((el as HTMLInputElement).value = String(v)), value);
}

const text = (selector: string): Promise<string> => page.$eval(selector, (e) => ((e as HTMLElement).hidden ? '' : (e.textContent ?? '')));

/** Picks a file for an <input type=file>, as a user would. */
async function upload(id: string, path: string): Promise<void> {
  const input = await page.$(`#${id}`);
  await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(path);
}

/**
 * Two probes: a timer every 5 ms on the page's main thread, recording how late each fires (a busy main thread
 * delays it), and the same timer in an idle worker beside it, which nothing of the page delays: how late it fires
 * is the machine's share (SwiftShader's GPU threads, the training worker and whatever else runs on these two CPU
 * cores, a VM's stolen time), the floor under what the main thread can do.
 */
const startProbe = (): Promise<void> =>
  page.evaluate(() => {
    const source = `let last = performance.now(); const late = []; let running = true;
      const tick = () => { const now = performance.now(); late.push(now - last - 5); last = now; if (running) setTimeout(tick, 5); };
      setTimeout(tick, 5);
      onmessage = () => { running = false; postMessage(late); };`;
    const reference = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
    const probe = { late: [] as number[], running: true, slow: [] as string[], reference };
    (window as unknown as { __probe: typeof probe }).__probe = probe;
    let last = performance.now();
    const tick = (): void => {
      const now = performance.now();
      probe.late.push(now - last - 5);
      if (now - last - 5 > 12) probe.slow.push(`${(now / 1000).toFixed(2)}s ${(now - last - 5).toFixed(0)}ms ${(window as unknown as { __chhDemo: { phase: string } }).__chhDemo.phase}`);
      last = now;
      if (probe.running) setTimeout(tick, 5);
    };
    setTimeout(tick, 5);
  });

/** Stops the probes; returns how late each tick was on the main thread and in the idle worker, and the main thread's ticks over 12 ms late (when, how late, in what phase). */
const stopProbe = (): Promise<{ late: number[]; reference: number[]; slow: string[] }> =>
  page.evaluate(async () => {
    const probe = (window as unknown as { __probe: { late: number[]; running: boolean; slow: string[]; reference: Worker } }).__probe;
    probe.running = false;
    const reference = await new Promise<number[]>((resolve) => {
      probe.reference.onmessage = (e) => resolve(e.data as number[]);
      probe.reference.postMessage('stop');
    });
    probe.reference.terminate();
    return { late: probe.late, reference, slow: probe.slow };
  });

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

describe('demo page in headless Chromium', () => {
  it('trains with a live loss curve and heatmap, pauses, survives a device loss, evaluates, predicts, and screenshots', async () => {
    await page.goto(`${origin}/index.html`, { waitUntil: 'load' });
    await page.waitForFunction(() => (window as unknown as { __chhDemo?: { webgpu: string } }).__chhDemo?.webgpu !== 'checking', { timeout: 60_000 });
    let s = await demoState();
    expect(s.webgpu, `WebGPU status: ${await page.$eval('#gpu-status', (e) => e.textContent)}`).toBe('ok');

    // The default: a tiny model, 8 training images of 64x64, batch 2 (4 steps per epoch), 2 epochs.
    await setValue('train-images', CFG.train);
    await setValue('calibration-images', CFG.calibration);
    await setValue('test-images', CFG.test);
    await setValue('width', CFG.width);
    await setValue('height', CFG.height);
    await page.select('#model', 'tiny');
    await setValue('batch', CFG.batch);
    await setValue('epochs', CFG.epochs);
    await setValue('lr', 0.003);
    await page.$eval('#augment', (el) => ((el as HTMLInputElement).checked = false));
    await setValue('calibration-epochs', 2);
    await setValue('heatmap-every', CFG.heatmapEvery);
    await page.$eval('#auto-evaluate', (el) => ((el as HTMLInputElement).checked = false));

    // A setting the network cannot take: the error shows beside the Start button, and nothing starts.
    await setValue('width', 40);
    await page.click('#start');
    await page.waitForFunction(() => !(document.getElementById('train-error') as HTMLElement).hidden, { timeout: 10_000 });
    expect(await text('#train-error')).toMatch(/width must be a multiple of 32/);
    await setValue('width', CFG.width);

    // Tuning the kernels for these shapes: timed in the worker, kept in IndexedDB, reported in the log.
    await page.click('#tune');
    await page.waitForFunction(() => /tuned \d+ conv shapes for this GPU/.test(document.getElementById('log')!.textContent ?? ''), { timeout: 120_000, polling: 200 });
    expect(await page.$eval('#tune', (b) => (b as HTMLButtonElement).disabled)).toBe(false);

    // Training runs in the worker; the page's main thread only draws. Measure it from Start to the end of training.
    if (process.env.CHH_DEMO_TRACE) await page.tracing.start({ path: join(OUT, 'demo-trace.json'), categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'toplevel', 'v8'] });
    await startProbe();
    const t0 = await page.evaluate(() => performance.now());
    await page.click('#start');
    await page.waitForFunction(() => (document.getElementById('train-error') as HTMLElement).hidden, { timeout: 10_000 });

    // Pause during training, check that no step runs while paused, then resume.
    await page.waitForFunction(() => (window as unknown as { __chhDemo: DemoState }).__chhDemo.losses.length >= 2, { timeout: 90_000, polling: 100 });
    await page.click('#pause');
    s = await waitForPhase(['paused'], 60_000);
    const pausedAt = s.losses.length;
    await new Promise((r) => setTimeout(r, 1500));
    s = await demoState();
    expect(s.phase).toBe('paused');
    expect(s.losses.length).toBeLessThanOrEqual(pausedAt + 1); // the step in flight when Pause was pressed may land
    await page.click('#resume');

    // Lose the GPU device after the first epoch: training stops, the epoch-1 checkpoint (IndexedDB) is kept and
    // the page offers to resume; resuming runs epoch 2 on a new device from that checkpoint.
    await page.waitForFunction(() => (window as unknown as { __chhDemo: DemoState }).__chhDemo.epochLosses.length >= 1, { timeout: 90_000, polling: 100 });
    await page.evaluate(() => (window as unknown as { __chhDemo: { worker: DemoWorker } }).__chhDemo.worker.loseDevice());
    s = await waitForPhase(['lost'], 60_000);
    expect(s.message).toMatch(/device was lost.*checkpoint of epoch 1 is kept/);
    expect(await page.$eval('#resume-checkpoint', (b) => (b as HTMLButtonElement).hidden)).toBe(false);
    await page.click('#resume-checkpoint');
    // Clicks while the resumed run compiles and trains (on text with no handler): the Event Timing API records
    // any handled 16 ms or more late.
    for (let i = 0; i < 6; i++) {
      await page.click('#live-caption');
      await new Promise((r) => setTimeout(r, 200));
    }

    s = await waitForPhase(['trained'], DOCS ? 1_500_000 : 150_000);
    const t1 = await page.evaluate(() => performance.now());
    const probe = await stopProbe();
    if (process.env.CHH_DEMO_TRACE) await page.tracing.stop();
    const late = probe.late.sort((a, b) => a - b);
    const floor = probe.reference.sort((a, b) => a - b);
    const longTasks = s.longTasks.filter((t) => t.start >= t0 && t.start <= t1);
    const inputs = s.slowInputs.filter((e) => e.start >= t0 && e.start <= t1);
    const worstInput = Math.max(0, ...inputs.map((e) => e.delay));
    const worst = quantile(late, 1);
    console.log(
      `responsiveness during training (${((t1 - t0) / 1000).toFixed(1)} s): ${longTasks.length} long tasks` +
        `${longTasks.length ? `, longest ${Math.max(...longTasks.map((t) => t.duration)).toFixed(0)} ms` : ''}; ` +
        `main-thread timer late by median ${quantile(late, 0.5).toFixed(1)} ms, p99 ${quantile(late, 0.99).toFixed(1)} ms, worst ${worst.toFixed(1)} ms (${late.length} ticks); ` +
        `idle worker's timer: p99 ${quantile(floor, 0.99).toFixed(1)} ms, worst ${quantile(floor, 1).toFixed(1)} ms; ` +
        `${inputs.length} input events over 16 ms, worst input delay ${worstInput.toFixed(1)} ms` +
        `\nmain-thread ticks over 12 ms late (page clock, lateness, phase): ${probe.slow.join(' | ') || 'none'}`,
    );
    expect(late.length).toBeGreaterThan(100);
    expect(floor.length).toBeGreaterThan(100);
    // Nothing the page runs blocks its main thread for 50 ms: no long task and no click handled later than 50 ms
    // beyond what the machine's own stalls add (a task stretched, or a click left waiting, while the shared cores
    // were taken, as the idle worker's timer shows: a CI run saw a 54 ms click), and the timer's 99th percentile
    // within 50 ms. (Its single worst tick is only logged: while SwiftShader
    // compiles pipelines it takes both cores, and any thread may then miss one tick by more, with no task running.)
    const longest = Math.max(0, ...longTasks.map((t) => t.duration));
    expect(longest, `long tasks on the main thread during training: ${JSON.stringify(longTasks)}`).toBeLessThan(50 + quantile(floor, 1));
    expect(worstInput, `input events over 16 ms during training: ${JSON.stringify(inputs)}`).toBeLessThan(50 + quantile(floor, 1));
    expect(quantile(late, 0.99)).toBeLessThan(50);
    const n = STEPS_PER_EPOCH * CFG.epochs;
    expect(s.losses).toHaveLength(n);
    expect(s.epochLosses).toHaveLength(CFG.epochs);
    expect(s.losses.every(Number.isFinite)).toBe(true);
    // The loss falls: the last epoch's mean below the first's, and the last two steps below the first two.
    expect(s.epochLosses[CFG.epochs - 1]).toBeLessThan(s.epochLosses[0]);
    expect(s.losses[n - 2] + s.losses[n - 1]).toBeLessThan(s.losses[0] + s.losses[1]);
    expect(s.heatmapUpdates).toBeGreaterThanOrEqual(3);
    expect(await page.$eval('#stats', (e) => e.textContent)).toMatch(/steps\/s; ETA .*; GPU memory in use \d/);
    expect(await page.$$eval('#loss-chart canvas', (c) => c.length)).toBeGreaterThan(0);

    // Calibrate and evaluate.
    await page.click('#evaluate');
    s = await waitForPhase(['evaluated'], 120_000);
    const ev = s.evaluation!;
    expect(ev.landmarks).toBe(CFG.test * 19);
    expect(ev.mreMm).toBeGreaterThan(0);
    expect(Number.isFinite(ev.mreMm)).toBe(true);
    expect(ev.sdr).toHaveLength(4);
    expect(ev.eceAfter).toBeLessThanOrEqual(ev.eceBefore + 1e-9); // the best ECE is kept, the initial T competes
    const plots = await page.$$eval('#plots svg', (svgs) => svgs.map((x) => x.id));
    expect(plots).toEqual(['demo-reliability-before', 'demo-reliability-after', 'ere-vs-error', 'roc']);
    expect(await page.$$eval('#overlays canvas', (c) => c.length)).toBe(4);
    expect(await page.$eval('#metrics-table', (t) => t.textContent)).toMatch(/MRE/);
    expect(await page.$eval('#download-report', (b) => (b as HTMLButtonElement).disabled)).toBe(false);

    // Predict on a picked BMP (a synthetic original at another size: the page pads and resizes it).
    const c = generateSyntheticCase(11, 0, { width: 193 });
    mkdirSync(OUT, { recursive: true });
    const bmpPath = join(OUT, 'demo-input.bmp');
    writeFileSync(bmpPath, encodeBmpGray8({ width: c.width, height: c.height, data: c.pixels }));
    await setValue('predict-pixel', c.pixelSizeMm);
    const input = await page.$('#bmp-file');
    await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(bmpPath);
    await page.waitForFunction(() => (window as unknown as { __chhDemo: DemoState }).__chhDemo.prediction !== null, { timeout: 60_000 });
    s = await demoState();
    expect(s.prediction).toHaveLength(19);
    // The page pads right/bottom to the model's aspect: a barely trained model may point into the padding (the
    // model's input is CFG.width x CFG.height), and such a point is flagged erroneous, never reported as fine.
    const imagePerInput = Math.max(c.width / CFG.width, c.height / CFG.height);
    for (const p of s.prediction!) {
      expect(p.x).toBeGreaterThanOrEqual(0);
      expect(p.x).toBeLessThanOrEqual(CFG.width * imagePerInput + 1e-6);
      expect(p.y).toBeLessThanOrEqual(CFG.height * imagePerInput + 1e-6);
      if (p.x > c.width || p.y > c.height) expect(p.erroneous).toBe(true);
      expect(Number.isFinite(p.ereMm)).toBe(true);
    }
    expect(await text('#predict-error')).toBe('');
    await predictErrorsAndWeights(bmpPath);

    // The screenshot: training panel (loss + live heatmap) and the evaluation (plots, overlays).
    await page.evaluate(() => window.scrollTo(0, 0));
    s = await demoState();
    await page.screenshot({ path: join(OUT, 'demo.png') as `${string}.png`, fullPage: true });
    if (DOCS) {
      // For the README: the training and evaluation panels.
      const top = await page.$eval('#train-panel', (e) => e.getBoundingClientRect().top + window.scrollY);
      const bottom = await page.$eval('#eval-panel', (e) => e.getBoundingClientRect().bottom + window.scrollY);
      mkdirSync(join(repoRoot, 'docs', 'images'), { recursive: true });
      await page.screenshot({ path: join(repoRoot, 'docs', 'images', 'demo.png') as `${string}.png`, clip: { x: 0, y: top - 8, width: 1280, height: bottom - top + 16 }, captureBeyondViewport: true });
    }
    expect(s.errors).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, DOCS ? 3_000_000 : 300_000);

  /**
   * The predict step's errors show in its panel: a file that is no BMP, and weights that do not load (the authors'
   * kind of file, converted PyTorch weights of a model that is not the paper's, fills the paper's 640x800 first).
   * The page's own weights fill their input size and predict again.
   */
  async function predictErrorsAndWeights(bmpPath: string): Promise<void> {
    const dir = join(OUT, 'demo-files');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'not-a.bmp'), 'hello');
    await upload('bmp-file', join(dir, 'not-a.bmp'));
    await page.waitForFunction(() => !(document.getElementById('predict-error') as HTMLElement).hidden, { timeout: 30_000 });
    expect(await text('#predict-error')).toMatch(/^predict not-a\.bmp: .+/);

    writeFileSync(join(dir, 'converted.safetensors'), readFileSync(join(repoRoot, 'test', 'fixtures', 'unet.weights.safetensors')));
    await page.$eval('#predict-error', (e) => ((e as HTMLElement).hidden = true));
    await upload('weights-file', join(dir, 'converted.safetensors'));
    await page.waitForFunction(() => !(document.getElementById('predict-error') as HTMLElement).hidden, { timeout: 30_000 });
    expect(await text('#predict-error')).toMatch(/^weights converted\.safetensors: .+/);
    expect([await page.$eval('#predict-width', (e) => (e as HTMLInputElement).value), await page.$eval('#predict-height', (e) => (e as HTMLInputElement).value)]).toEqual(['640', '800']);

    // The weights of the model trained here, as the Download button gives them: they record 64x64.
    const b64 = await page.evaluate(async () => {
      const bytes = await (window as unknown as { __chhDemo: { worker: DemoWorker } }).__chhDemo.worker.weights();
      let bin = '';
      for (const b of bytes) bin += String.fromCharCode(b);
      return btoa(bin);
    });
    writeFileSync(join(dir, 'page.safetensors'), Buffer.from(b64, 'base64'));
    await upload('weights-file', join(dir, 'page.safetensors'));
    await page.waitForFunction(() => /weights page\.safetensors: chh names/.test(document.getElementById('log')!.textContent ?? ''), { timeout: 60_000 });
    expect(await text('#predict-error')).toBe('');
    expect([await page.$eval('#predict-width', (e) => (e as HTMLInputElement).value), await page.$eval('#predict-height', (e) => (e as HTMLInputElement).value)]).toEqual([String(CFG.width), String(CFG.height)]);
    await page.evaluate(() => ((window as unknown as { __chhDemo: { prediction: unknown } }).__chhDemo.prediction = null));
    await upload('bmp-file', bmpPath);
    await page.waitForFunction(() => (window as unknown as { __chhDemo: DemoState }).__chhDemo.prediction !== null, { timeout: 60_000 });
    expect((await demoState()).prediction).toHaveLength(19);
    expect(await text('#predict-error')).toBe('');
  }

  it('says plainly when there is no WebGPU or no adapter, and how to enable it', async () => {
    for (const [mode, expected] of [['missing', /has no WebGPU[\s\S]*To enable it/], ['no-adapter', /found no GPU adapter[\s\S]*To enable it/]] as const) {
      const p = await browser.newPage();
      try {
        await p.evaluateOnNewDocument((m: string) => {
          if (m === 'missing') Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined });
          else GPU.prototype.requestAdapter = async () => null;
        }, mode);
        await p.goto(`${origin}/index.html`, { waitUntil: 'load' });
        await p.waitForFunction(() => (window as unknown as { __chhDemo?: { webgpu: string } }).__chhDemo?.webgpu !== 'checking', { timeout: 60_000 });
        const r = await p.evaluate(() => ({
          webgpu: (window as unknown as { __chhDemo: { webgpu: string } }).__chhDemo.webgpu,
          text: document.getElementById('gpu-status')!.textContent ?? '',
          start: (document.getElementById('start') as HTMLButtonElement).disabled,
        }));
        expect(r.webgpu).toBe(mode);
        expect(r.text).toMatch(expected);
        expect(r.start).toBe(true);
      } finally {
        await p.close();
      }
    }
  }, 120_000);
});
