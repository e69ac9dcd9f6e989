// chh bench: the benchmark (npm run bench), run as its own process with every argument passed through. It lives in
// the repository (bench/, run by tsx), not in the npm package: from an installed package this says so.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { command } from '../command.ts';

/** The package folder this code runs from (the nearest package.json above it: src/cli/commands or dist/lib). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const benchCommand = command({
  summary: 'the benchmark (npm run bench): kernels and the full model, ours vs TensorFlow.js in headless Chromium',
  usage: 'chh bench [--size HxW] [--batch N] [--no-tfjs] [--runtime node] [--soak N] [--out FILE] ... (chh bench --help lists them all)',
  options: {},
  passThrough: true,
  async run(_v, args) {
    const root = packageRoot();
    const tsx = join(root, 'node_modules/tsx/dist/cli.mjs');
    if (!existsSync(join(root, 'bench/run.ts')) || !existsSync(tsx)) {
      throw new Error('the benchmark runs from a checkout of the chh-webgpu repository (bench/ is not in the npm package): run `npm run bench` there');
    }
    const r = spawnSync(process.execPath, [tsx, join(root, 'bench/run.ts'), ...args], { stdio: 'inherit', cwd: root });
    if (r.status !== 0) throw new Error(`the benchmark exited with ${r.status ?? r.signal}`);
  },
});
