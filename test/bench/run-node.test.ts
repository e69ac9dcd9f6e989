// `npm run bench -- --runtime node --tune` end to end, as a user runs it: bench/run.ts in a child process, the conv
// shapes tuned first, both engines in that one Node process on the same Dawn GPU, the JSON it writes read back. The `tiny` preset at 64x32 (32x32
// leaves the deepest batchnorm one value per channel) keeps it to about 40 s on SwiftShader; the paper's model at
// the same size takes over two minutes, nearly all of it TF.js.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { BenchResults } from '../../bench/report.ts';

const run = promisify(execFile);

/** a within 2% of b: the JSON rounds rates and ratios to 3-4 significant digits. */
const near = (a: number | undefined, b: number) => expect(Math.abs(a! - b) / b).toBeLessThan(0.02);

describe('npm run bench -- --runtime node', () => {
  it('runs ours and the TF.js anchor in Node and reports both, with conv rates against the given peak', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-node-'));
    try {
      const out = join(dir, 'r.json');
      const cache = join(dir, 'autotune.json');
      const args = ['--runtime', 'node', '--preset', 'tiny', '--size', '64x32', '--reps', '1', '--tfjs-reps', '1', '--kernel-reps', '1', '--kernel-target-ms', '20', '--no-torch', '--no-md', '--peak-tflops', '2', '--tune', '--out', out];
      const { stdout } = await run('node_modules/.bin/tsx', ['bench/run.ts', ...args], { timeout: 280_000, maxBuffer: 1 << 24, env: { ...process.env, CHH_TUNE_CACHE: cache } });
      // --tune: the model's conv shapes tuned first, the table printed, the winners saved to the cache file.
      const tuned = Number(/ours: tuned (\d+) conv shapes/.exec(stdout)?.[1]);
      expect(tuned).toBeGreaterThan(20);
      expect(stdout).toContain(`bench: saved ${tuned} tuned choices to ${cache}`);
      const doc = JSON.parse(readFileSync(cache, 'utf8')) as { adapters: Record<string, { shapes: object }> };
      expect(Object.keys(Object.values(doc.adapters)[0].shapes)).toHaveLength(tuned);
      const r = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
      expect(r.runtime).toBe('node');
      expect(r.browser).toMatch(/^none: Node v\d+.*Dawn \(npm webgpu /);
      expect(r.tfjs).toMatchObject({ runtime: 'node', backend: 'webgpu', adapter: { vendor: r.adapter.vendor, architecture: r.adapter.architecture } });
      // the same model on both sides
      expect(r.tfjs!.parameters).toBe(r.parameters);
      for (const name of ['unet.forward.64x32.b1', 'unet.train_step.64x32.b1']) {
        const c = r.cases.find((x) => x.name === name)!;
        expect(c.tfjs_ms).toBeGreaterThan(0);
        near(c.speedup, c.tfjs_ms! / c.ours_ms);
        expect(c.conv_tflops).toBeGreaterThan(0);
        near(c.conv_peak_fraction, c.conv_tflops! / 2);
      }
      expect(r.memory.ours_peak_bytes).toBeGreaterThan(0);
      expect(r.memory.tfjs_peak_bytes).toBeGreaterThan(0);
      const convs = r.cases.filter((c) => c.name.startsWith('conv.'));
      expect(convs.length).toBeGreaterThan(10);
      for (const c of convs) {
        expect(c.tflops).toBeGreaterThan(0);
        // gflops is rounded to 3 decimals, tflops to 4 significant digits
        expect(Math.abs(c.tflops! * 1000 - c.gflops!)).toBeLessThan(0.0005 + c.gflops! * 1e-3);
        near(c.peak_fraction, c.tflops! / 2);
        expect(c.variant).toMatch(c.name.startsWith('conv.fwd') ? /forward/ : c.name.startsWith('conv.dgrad') ? /dgrad/ : /wgrad.* splits\d+$/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
