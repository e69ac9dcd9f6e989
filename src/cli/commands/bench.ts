// chh bench: the benchmark (npm run bench), run as its own process with every argument passed through.
import { join } from 'node:path';
import { command } from '../command.ts';

export const benchCommand = command({
  summary: 'the benchmark (npm run bench): kernels and the full model, ours vs TensorFlow.js in headless Chromium',
  usage: 'chh bench [--size HxW] [--batch N] [--no-tfjs] [--runtime node] [--soak N] [--out FILE] ... (chh bench --help lists them all)',
  options: {},
  passThrough: true,
  async run(_v, args) {
    const { spawnSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const r = spawnSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'bench/run.ts'), ...args], { stdio: 'inherit', cwd: root });
    if (r.status !== 0) throw new Error(`the benchmark exited with ${r.status ?? r.signal}`);
  },
});
