// Runs engine code inside real headless Chromium with WebGPU: finds a browser, serves the repository with Vite on
// localhost (WebGPU needs a secure context; about:blank has no navigator.gpu), and calls an exported function of a
// module in the page through harness/index.html. Used by the browser tests, `chh --runtime browser` and the bench.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'puppeteer';
import type { ViteDevServer } from 'vite';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Chromium flags that give headless Chrome a WebGPU adapter on Linux, through SwiftShader when there is no GPU. */
export function chromeFlags(): string[] {
  const flags = [
    '--headless=new',
    '--no-sandbox',
    '--enable-unsafe-webgpu',
    '--enable-features=Vulkan',
    // the network is closed here: no background fetches that fail noisily
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ];
  if (process.env.CHH_GPU !== 'hardware') flags.push('--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader');
  return flags;
}

export function findChrome(): string {
  const fromEnv = process.env.CHROME_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROME_PATH=${fromEnv} does not exist`);
    return fromEnv;
  }
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']) {
    if (existsSync(p)) return p;
  }
  throw new Error(
    'No Chrome/Chromium found. Install one (Debian: apt-get install -y chromium; `npm test` and `npm start` do this ' +
      'themselves when run as root) or set CHROME_PATH to its binary.',
  );
}

export interface BrowserSession {
  browser: Browser;
  server: ViteDevServer;
  origin: string;
  /** Calls `exportName(arg)` from `modulePath` (relative to the repo root) in a fresh page; resolves to its JSON result. */
  call<T>(modulePath: string, exportName: string, arg?: unknown, onLog?: (line: string) => void): Promise<T>;
  close(): Promise<void>;
}

/** A package the browser runtime needs (devDependencies of the repository: nothing in the npm package uses them). */
async function devPackage<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND') throw e;
    throw new Error(`the browser runtime needs ${name}, which is not installed: run it from a checkout of chh-webgpu after npm install (or: npm install ${name})`, { cause: e });
  }
}

export async function openBrowser(): Promise<BrowserSession> {
  const { createServer } = await devPackage('vite', () => import('vite'));
  const puppeteer = (await devPackage('puppeteer', () => import('puppeteer'))).default;
  const server = await createServer({
    root: repoRoot,
    configFile: false,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite did not start a server');
  const origin = `http://localhost:${address.port}`;
  let browser: Browser;
  try {
    browser = await puppeteer.launch({ executablePath: findChrome(), headless: true, args: chromeFlags(), protocolTimeout: 0 });
  } catch (e) {
    await server.close();
    throw e;
  }
  return {
    browser,
    server,
    origin,
    async call<T>(modulePath: string, exportName: string, arg?: unknown, onLog?: (line: string) => void): Promise<T> {
      const page: Page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        const text = m.text();
        if (text.startsWith('[vite]')) return;
        if (onLog) onLog(text);
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      try {
        await page.goto(`${origin}/harness/index.html`, { waitUntil: 'load' });
        const result = await page.evaluate(
          async (mod: string, fn: string, a: unknown) => {
            const w = window as unknown as { harnessCall: (m: string, f: string, a: unknown) => Promise<unknown> };
            return w.harnessCall(mod, fn, a);
          },
          '/' + modulePath.replace(/^\//, ''),
          exportName,
          arg ?? null,
        );
        const r = result as { ok: boolean; value?: T; error?: string };
        if (!r.ok) throw new Error(`in the browser: ${r.error}${errors.length ? `\npage errors: ${errors.join('\n')}` : ''}`);
        return r.value as T;
      } finally {
        await page.close();
      }
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
