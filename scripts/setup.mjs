#!/usr/bin/env node
// Makes a fresh clone runnable with nothing installed by hand: installs npm dependencies when they are missing,
// finds a Chromium for the browser side (CHROME_PATH, else /usr/bin/chromium, else apt-get on Debian as root),
// makes sure the Vulkan loader that Dawn needs is present, and embeds the WGSL sources.
// Runs as `prestart`/`pretest`/`prebuild`; safe to run again (it only acts on what is missing).
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const log = (msg) => { if (!quiet) console.log(`[setup] ${msg}`); };

function run(cmd) {
  log(`$ ${cmd}`);
  execSync(cmd, { cwd: root, stdio: 'inherit', env: { ...process.env, PUPPETEER_SKIP_DOWNLOAD: '1', DEBIAN_FRONTEND: 'noninteractive' } });
}

function isRoot() { return typeof process.getuid === 'function' && process.getuid() === 0; }
function hasApt() { return existsSync('/usr/bin/apt-get'); }

// 1. npm dependencies (the marker files are ones every install leaves).
const needed = ['vitest', 'webgpu', 'wgsl_reflect', 'puppeteer', 'vite', 'tsx', 'typescript'];
const missing = needed.filter((p) => !existsSync(join(root, 'node_modules', p, 'package.json')));
if (missing.length > 0) {
  log(`npm dependencies missing (${missing.join(', ')}): installing from package-lock.json`);
  run(existsSync(join(root, 'package-lock.json')) ? 'npm ci --no-audit --no-fund' : 'npm install --no-audit --no-fund');
}

// 2. Debian packages: a browser (the engine's home) and the Vulkan loader (Dawn in Node needs libvulkan.so.1).
const aptWanted = [];
const chromeFromEnv = process.env.CHROME_PATH;
if (chromeFromEnv && !existsSync(chromeFromEnv)) {
  console.error(`[setup] CHROME_PATH=${chromeFromEnv} does not exist. Point it at a Chrome/Chromium binary or unset it.`);
  process.exit(1);
}
if (!chromeFromEnv && !existsSync('/usr/bin/chromium')) aptWanted.push('chromium');
const hasVulkanLoader = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib/libvulkan.so.1']
  .some((p) => existsSync(p));
if (!hasVulkanLoader && process.platform === 'linux') aptWanted.push('libvulkan1');
if (aptWanted.length > 0) {
  if (isRoot() && hasApt()) {
    log(`installing Debian packages: ${aptWanted.join(' ')}`);
    run('apt-get update -qq');
    run(`apt-get install -y --no-install-recommends ${aptWanted.join(' ')}`);
  } else {
    console.error([
      `[setup] Missing: ${aptWanted.join(', ')}.`,
      '  chh-webgpu needs a Chromium/Chrome with WebGPU and, in Node, the Vulkan loader.',
      '  On Debian/Ubuntu: sudo apt-get install -y chromium libvulkan1',
      '  Or set CHROME_PATH to an installed Chrome/Chromium.',
    ].join('\n'));
    process.exit(1);
  }
}

// 3. WGSL sources (templates expanded) embedded as a module, so Node, the browser and the library build all load
// them the same way (scripts/embed-shaders.ts, run by tsx, which step 1 installed).
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
run(`${JSON.stringify(process.execPath)} ${JSON.stringify(tsx)} ${JSON.stringify(join(root, 'scripts', 'embed-shaders.ts'))}${quiet ? ' --quiet' : ''}`);
