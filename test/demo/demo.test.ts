// The demo page (demo/) end to end in real headless Chromium: served by Vite as `npm run demo` serves it, it finds
// the WebGPU adapter, trains a tiny model on synthetic data generated in the page (the loss falls, the live heatmap
// is drawn), pauses and resumes, calibrates and evaluates (metrics, the four plots, overlays with ERE flags),
// predicts on a picked BMP, and leaves a screenshot in test-output/demo.png.
import { mkdirSync, writeFileSync } from 'node:fs';
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
  prediction: null | { x: number; y: number; ereMm: number }[];
  errors: string[];
};

const demoState = (): Promise<DemoState> =>
  page.evaluate(() => {
    const { session: _s, ...rest } = (window as unknown as { __chhDemo: DemoState & { session: unknown } }).__chhDemo;
    return JSON.parse(JSON.stringify(rest)) as DemoState;
  });

async function waitForPhase(phases: string[], timeout: number): Promise<DemoState> {
  await page.waitForFunction(
    (ps: string[]) => {
      const s = (window as unknown as { __chhDemo?: { phase: string } }).__chhDemo;
      return !!s && (ps.includes(s.phase) || s.phase === 'error');
    },
    { timeout, polling: 250 },
    phases,
  );
  const s = await demoState();
  if (s.phase === 'error') throw new Error(`the page failed: ${s.message}\n${s.errors.join('\n')}\n${pageErrors.join('\n')}`);
  return s;
}

async function setValue(id: string, value: string | number): Promise<void> {
  await page.$eval(`#${id}`, (el, v) => ((el as HTMLInputElement).value = String(v)), value);
}

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
    await page.click('#start');

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
    await page.evaluate(() => (window as unknown as { __chhDemo: { session: { loseDevice(): void } } }).__chhDemo.session.loseDevice());
    s = await waitForPhase(['lost'], 60_000);
    expect(s.message).toMatch(/device was lost.*checkpoint of epoch 1 is kept/);
    expect(await page.$eval('#resume-checkpoint', (b) => (b as HTMLButtonElement).hidden)).toBe(false);
    await page.click('#resume-checkpoint');

    s = await waitForPhase(['trained'], DOCS ? 1_500_000 : 150_000);
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
    for (const p of s.prediction!) {
      expect(p.x).toBeGreaterThanOrEqual(0);
      expect(p.x).toBeLessThanOrEqual(c.width);
      expect(p.y).toBeLessThanOrEqual(c.height);
      expect(Number.isFinite(p.ereMm)).toBe(true);
    }

    // The screenshot: training panel (loss + live heatmap) and the evaluation (plots, overlays).
    await page.evaluate(() => window.scrollTo(0, 0));
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
