// The npm package as a new user meets it: the library is built and packed as `npm pack` would (into a stage
// folder, so test/library.test.ts can rebuild dist/ at the same time), and the tarball is installed into a fresh
// project outside the repository, with none of the repository's packages in reach. There a strict TypeScript
// consumer type-checks (skipLibCheck false; bundler, node16, nodenext), Vite builds a page from it with no Node
// built-in and no warning, the page predicts landmarks in headless Chromium, Node imports and requires the package
// (chh-webgpu/node saying how to get the optional `webgpu`, which is not installed), `npx chh` runs without tsx, and,
// webgpu installed at last (from npm's cache, which the repository's own install filled), Node predicts too.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromeFlags, findChrome, repoRoot } from '../../src/node/browser.ts';
import { embedShaders } from '../../scripts/embed-shaders.ts';
import { staticServer } from '../helpers/static-server.ts';
import { CONSUMER_FILES } from './consumer.ts';

const STAGE = join(repoRoot, 'test-output', 'package', 'stage');
const TSC = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const VITE = join(repoRoot, 'node_modules', 'vite', 'bin', 'vite.js');

let consumer: string;
let tarball: string;
let packedFiles: string[];
let tarballBytes: number;
const seconds: Record<string, number> = {};

/** npm or npx in a child process, without the npm_* variables of an `npm test` around us (they would steer it). */
function npm(args: string[], cwd: string, command: 'npm' | 'npx' = 'npm'): string {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  return execFileSync(command, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs fn, recording how long it took under `name` (printed at the end: the numbers of a user's first minute). */
function timed<T>(name: string, fn: () => T): T {
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    seconds[name] = (performance.now() - t0) / 1000;
  }
}

/** What `npm run build` makes for the package (the library half), written into the stage with the packed files. */
async function buildStage(): Promise<void> {
  rmSync(STAGE, { recursive: true, force: true });
  embedShaders({ quiet: true });
  const { build } = await import('vite');
  await build({ configFile: join(repoRoot, 'scripts', 'vite.lib.config.ts'), logLevel: 'error', build: { outDir: join(STAGE, 'dist', 'lib') } });
  execFileSync(process.execPath, [TSC, '-p', 'tsconfig.build.json', '--declarationDir', join(STAGE, 'dist', 'lib', 'types')], { cwd: repoRoot, stdio: 'inherit' });
  for (const f of ['package.json', 'README.md', 'LICENSE']) copyFileSync(join(repoRoot, f), join(STAGE, f));
  cpSync(join(repoRoot, 'bin'), join(STAGE, 'bin'), { recursive: true });
}

beforeAll(async () => {
  const t0 = performance.now();
  await buildStage();
  seconds.build = (performance.now() - t0) / 1000;
  // --ignore-scripts: prepack would rebuild, and the stage has no node_modules to build with.
  const packed = JSON.parse(timed('pack', () => npm(['pack', '--json', '--ignore-scripts', '--pack-destination', join(STAGE, '..')], STAGE))) as {
    filename: string;
    size: number;
    files: { path: string }[];
  }[];
  tarball = join(STAGE, '..', packed[0].filename);
  packedFiles = packed[0].files.map((f) => f.path);
  tarballBytes = packed[0].size;
  // Outside the repository, so nothing resolves to the repository's node_modules (tsx, webgpu, vite...).
  consumer = mkdtempSync(join(tmpdir(), 'chh-consumer-'));
  for (const [name, text] of Object.entries(CONSUMER_FILES)) writeFileSync(join(consumer, name), text);
  timed('install', () => npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], consumer));
}, 240_000);

afterAll(() => {
  const times = Object.entries(seconds).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ');
  console.log(`package: tarball ${(tarballBytes / 1024).toFixed(0)} KiB; ${times}`);
  if (consumer) rmSync(consumer, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('is publishable and ships the build, not the sources', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.private).toBeUndefined();
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(repoRoot, 'LICENSE'), 'utf8')).toContain('Copyright (c) 2026 the chh-webgpu authors');
    expect(packedFiles).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'bin/chh.mjs', 'dist/lib/chh-webgpu.js', 'dist/lib/node.js', 'dist/lib/cli.js', 'dist/lib/types/index.d.ts']));
    const unexpected = packedFiles.filter((f) => !/^(dist\/lib\/|bin\/chh\.mjs$|README\.md$|LICENSE$|package\.json$)/.test(f));
    expect(unexpected).toEqual([]);
    expect(tarballBytes).toBeLessThan(1024 * 1024);
  });

  it('installs without webgpu, tsx or any other package of the repository', () => {
    const installed = readdirSync(join(consumer, 'node_modules')).filter((n) => !n.startsWith('.'));
    expect(installed.sort()).toEqual(['@webgpu', 'chh-webgpu']);
  });

  it('type-checks a strict consumer with skipLibCheck false under bundler, node16 and nodenext', () => {
    for (const resolution of ['bundler', 'node16', 'nodenext']) {
      const r = spawnSync(process.execPath, [TSC, '-p', `tsconfig.${resolution}.json`], { cwd: consumer, encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`, resolution).toBe('');
      expect(r.status, resolution).toBe(0);
    }
  }, 120_000);

  it('builds a page with Vite: no Node built-in, no warning', () => {
    const r = timed('viteBuild', () => spawnSync(process.execPath, [VITE, 'build'], { cwd: consumer, encoding: 'utf8' }));
    const log = `${r.stdout}${r.stderr}`;
    expect(r.status, log).toBe(0);
    expect(log).not.toMatch(/externalized|node:/i);
    const assets = join(consumer, 'dist', 'assets');
    const code = readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
    expect(code).toMatch(/@compute @workgroup_size/);
    expect(code).not.toMatch(/["']node:|["']webgpu["']|__vite-browser-external/);
  }, 120_000);

  it('runs that page in Chromium: landmarks of a synthetic image', async () => {
    const { server, port } = await staticServer(join(consumer, 'dist'));
    const puppeteer = (await import('puppeteer')).default;
    const browser = await puppeteer.launch({ executablePath: findChrome(), headless: true, args: chromeFlags(), protocolTimeout: 0 });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      const t0 = performance.now();
      await page.goto(`http://localhost:${port}/index.html`, { waitUntil: 'load' });
      await page.waitForFunction(() => document.getElementById('out')?.textContent !== 'predicting…', { timeout: 120_000, polling: 200 });
      seconds.pagePredict = (performance.now() - t0) / 1000;
      const text = await page.$eval('#out', (e) => e.textContent ?? '');
      expect(errors, text).toEqual([]);
      expect(text.split('\n')).toHaveLength(19);
      expect(text).toMatch(/^sella: \(\d+\.\d, \d+\.\d\) px, ERE \d+\.\d\d mm/);
    } finally {
      await browser.close();
      await new Promise((r) => server.close(r));
    }
  }, 180_000);

  it('loads in Node by import and require; chh-webgpu/node says how to get webgpu', () => {
    const run = (args: string[]): string => execFileSync(process.execPath, args, { cwd: consumer, encoding: 'utf8' });
    expect(run(['node-check.mjs'])).toBe('function\ninstall the optional peer dependency: npm install webgpu\n');
    // require() of an ES module: Node 20.19+ and 22.12+ (README, "Installing").
    if ((process.features as { require_module?: boolean }).require_module) {
      expect(run(['-e', "console.log(typeof require('chh-webgpu').Engine, typeof require('chh-webgpu/node').createNodeEngine)"])).toBe('function function\n');
    }
  });

  it('runs npx chh from the package, without tsx', () => {
    const help = timed('npxHelp', () => npm(['--no-install', 'chh', '--help'], consumer, 'npx'));
    expect(help).toMatch(/^chh: Contour-Hugging Heatmaps on WebGPU/);
    expect(help).toContain('chh predict');
    const out = npm(['--no-install', 'chh', 'synth', '--out', 'synth', '--train', '1', '--test1', '1', '--test2', '1', '--width', '96'], consumer, 'npx');
    expect(out).toMatch(/^wrote 3 images of 96x/);
    expect(existsSync(join(consumer, 'synth', 'chh-dataset.json'))).toBe(true);
  });

  // Last: the tests above check the package without webgpu.
  it('predicts in Node once the consumer installs webgpu', () => {
    timed('installWebgpu', () => npm(['install', '--prefer-offline', '--no-audit', '--no-fund', 'webgpu'], consumer));
    const out = timed('nodePredict', () => execFileSync(process.execPath, ['node-predict.mjs'], { cwd: consumer, encoding: 'utf8' }));
    expect(JSON.parse(out)).toEqual({ runtime: 'node', landmarks: 19, first: 'sella' });
  }, 120_000);
});
