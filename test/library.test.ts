// The engine as a library: `npm run build`'s library half (dist/lib: chh-webgpu.js, node.js and their chunks, type
// declarations, what package.json "exports" names) is built here, used from Node (the built chh-webgpu/node) to make
// small weights, and then
// examples/predict.html, a plain <script type="module"> importing the built file from a static server, predicts
// landmarks with them in headless Chromium; its answer matches the same prediction made in Node. The demo page's
// static build (dist/demo) loads from a plain server too, its training worker bundled beside it and answering.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer';
import { chromeFlags, findChrome, repoRoot } from '../src/node/browser.ts';
import { embedShaders } from '../scripts/embed-shaders.ts';
import { staticServer } from './helpers/static-server.ts';

const OUT = join(repoRoot, 'test-output', 'library');
const LIB = join(repoRoot, 'dist', 'lib', 'chh-webgpu.js');
const NODE_LIB = join(repoRoot, 'dist', 'lib', 'node.js');

type Lib = typeof import('../src/index.ts');
type NodeLib = typeof import('../src/index-node.ts');

let server: Server;
let origin: string;
let browser: Browser;

/** A built module and every module it imports statically, relative ones followed (its chunks), as code. */
function moduleGraph(file: string, seen = new Map<string, string>()): Map<string, string> {
  if (seen.has(file)) return seen;
  const code = readFileSync(file, 'utf8');
  seen.set(file, code);
  for (const m of code.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*"(\.[^"]+)"/gm)) moduleGraph(join(dirname(file), m[1]), seen);
  return seen;
}

beforeAll(async () => {
  // Build the library as `npm run build` does (the demo half is not needed here).
  embedShaders({ quiet: true });
  const { build } = await import('vite');
  await build({ configFile: join(repoRoot, 'scripts', 'vite.lib.config.ts'), logLevel: 'error' });
  execFileSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: repoRoot, stdio: 'inherit' });
  const started = await staticServer(repoRoot);
  server = started.server;
  origin = `http://localhost:${started.port}`;
  const puppeteer = (await import('puppeteer')).default;
  browser = await puppeteer.launch({ executablePath: findChrome(), headless: true, args: chromeFlags(), protocolTimeout: 0 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
});

describe('the library build', () => {
  it('has the files package.json exports, with the WGSL embedded and no DOM, Node or Vite leftovers', () => {
    type Entry = { types: string; import: string; default: string };
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { exports: { '.': Entry; './node': Entry } };
    for (const entry of [pkg.exports['.'], pkg.exports['./node']]) {
      for (const file of [entry.import, entry.default, entry.types]) expect(existsSync(join(repoRoot, file)), file).toBe(true);
    }
    // What a page loads: the browser entry and its chunks, none of which may name a Node built-in or Dawn.
    const graph = moduleGraph(LIB);
    expect(graph.size).toBeGreaterThan(1);
    const code = [...graph.values()].join('\n');
    expect(code).not.toMatch(/["']node:|["']webgpu["']/);
    expect(code).toMatch(/@compute @workgroup_size/); // the kernels travel inside the module
    expect(code).not.toMatch(/\bdocument\./);
    expect(code).not.toMatch(/\/@vite\/|__vite-browser-external/);
    const typesFile = join(repoRoot, pkg.exports['.'].types);
    const types = readFileSync(typesFile, 'utf8');
    for (const name of ['Engine', 'ResnetUnet', 'MODEL_PRESETS', 'loadSafetensors', 'saveSafetensors', 'expectedRadialError', 'evaluateModel', 'predictBmp']) {
      expect(types).toContain(name);
    }
  });

  it('runs examples/predict.html in Chromium on weights made in Node with the built module', async () => {
    // The built module in Node (Dawn): a tiny model with 19 landmarks, its weights with temperatures and input size.
    const lib = (await import(/* @vite-ignore */ LIB)) as Lib;
    const engine = await ((await import(/* @vite-ignore */ NODE_LIB)) as NodeLib).createNodeEngine();
    let nodeResult: { x: number; y: number; ereMm: number }[];
    try {
      const model = new lib.ResnetUnet({ ...lib.MODEL_PRESETS.tiny, landmarks: 19 });
      const state = model.allocate(engine, 3);
      const temps = engine.tensor(Array.from({ length: 19 }, (_, i) => 0.8 + 0.02 * i), [19]);
      const weights = await lib.saveSafetensors(model, state, temps, { config: JSON.stringify(model.config), input_width: '64', input_height: '96' });
      const c = lib.generateSyntheticCase(4, 0, { width: 150 });
      const bmp = lib.encodeBmpGray8({ width: c.width, height: c.height, data: c.pixels });
      mkdirSync(OUT, { recursive: true });
      writeFileSync(join(OUT, 'model.safetensors'), weights);
      writeFileSync(join(OUT, 'image.bmp'), bmp);
      // Round trip through loadModel, as the example does, then predict here for the comparison.
      const loaded = lib.loadModel(engine, weights);
      expect(loaded.inputSize).toEqual({ width: 64, height: 96 });
      expect(loaded.format).toBe('chh');
      const p = await lib.predictBmp(engine, loaded.model, loaded.state, bmp, loaded.inputSize!, { temperatures: loaded.temperatures, pixelSizeMm: 0.1 });
      nodeResult = p.landmarks;
      loaded.dispose();
      state.dispose();
      temps.dispose();
    } finally {
      engine.destroy();
    }

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`);
    });
    try {
      await page.goto(`${origin}/examples/predict.html?weights=/test-output/library/model.safetensors&image=/test-output/library/image.bmp`, { waitUntil: 'load' });
      await page.waitForFunction(() => 'prediction' in window || document.getElementById('out')?.textContent !== 'predicting…', { timeout: 90_000, polling: 200 });
      const text = await page.$eval('#out', (e) => e.textContent ?? '');
      const browserResult = (await page.evaluate(() => (window as unknown as { prediction?: unknown }).prediction)) as { name: string; x: number; y: number; ereMm: number }[] | undefined;
      expect(errors, text).toEqual([]);
      expect(browserResult).toHaveLength(19);
      expect(text.split('\n')).toHaveLength(19);
      expect(text).toMatch(/^sella: \(\d+\.\d, \d+\.\d\) px, ERE \d+\.\d\d mm/);
      // Same weights, same image, same kernels on two WebGPU implementations (Chromium's and Dawn in Node).
      const same = browserResult!.filter((b, i) => b.x === nodeResult[i].x && b.y === nodeResult[i].y).length;
      expect(same).toBeGreaterThanOrEqual(17);
      browserResult!.forEach((b, i) => expect(Math.abs(b.ereMm - nodeResult[i].ereMm)).toBeLessThan(0.01 * nodeResult[i].ereMm + 1e-3));
    } finally {
      await page.close();
    }
  }, 240_000);

  it('builds the demo page to static files that load from a plain server', async () => {
    const { build } = await import('vite');
    await build({ configFile: join(repoRoot, 'demo', 'vite.config.ts'), root: join(repoRoot, 'demo'), logLevel: 'error' });
    expect(existsSync(join(repoRoot, 'dist', 'demo', 'index.html'))).toBe(true);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
    });
    try {
      await page.goto(`${origin}/dist/demo/index.html`, { waitUntil: 'load' });
      await page.waitForFunction(() => (window as unknown as { __chhDemo?: { webgpu: string } }).__chhDemo?.webgpu !== 'checking', { timeout: 60_000 });
      const st = await page.evaluate(() => {
        const d = (window as unknown as { __chhDemo: { webgpu: string; phase: string } }).__chhDemo;
        return { webgpu: d.webgpu, phase: d.phase, start: (document.getElementById('start') as HTMLButtonElement).disabled, chart: document.querySelectorAll('#loss-chart canvas').length };
      });
      expect(st).toEqual({ webgpu: 'ok', phase: 'idle', start: false, chart: 1 });
      // The training worker is bundled beside the page and answers it (a request and its response).
      expect(readdirSync(join(repoRoot, 'dist', 'demo', 'assets')).some((f) => /^worker-.*\.js$/.test(f))).toBe(true);
      const answer = await page.evaluate(async () => {
        const w = (window as unknown as { __chhDemo: { worker: { unfinishedRun(): Promise<unknown>; weights(): Promise<unknown> } } }).__chhDemo.worker;
        const run = await w.unfinishedRun();
        const error = await w.weights().then(() => 'no error', (e: Error) => e.message);
        return { run, error };
      });
      expect(answer).toEqual({ run: null, error: 'no model: train one or load weights first' });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 120_000);
});
