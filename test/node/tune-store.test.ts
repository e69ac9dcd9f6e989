// The autotune cache file: written, read back into a fresh engine, invalidated by a kernel-set change, a corrupt
// file survived (one warning, rewritten), and two processes saving at once keep both their choices.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeEngine } from '../../src/node/gpu.ts';
import { loadTuneCache, readTuneCache, saveTuneChoices, tuneCachePath } from '../../src/node/tune-store.ts';
import { adapterIdentity, kernelSetChecksum } from '../../src/ops/conv2d/tune-cache.ts';
import { conv2dTuning } from '../../src/ops/conv2d/tuning.ts';
import type { TuneChoice } from '../../src/ops/conv2d/autotune.ts';
import type { Engine } from '../../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'chh-tune-'));
const engines: Engine[] = [];
afterAll(() => engines.forEach((e) => e.destroy()));

async function engine(tuneCache: string | null): Promise<Engine> {
  const e = await createNodeEngine({ tuneCache });
  engines.push(e);
  return e;
}

const choice = (key: string): TuneChoice => ({ key, op: 'dgrad', kernel: { tm: 4, tn: 8, rows: true, flat: true }, defaultKernel: { tm: 8, tn: 8, rows: true, flat: true }, variant: 'dgrad_flat TM4 TN8', defaultVariant: 'dgrad_flat TM8 TN8', isDefault: false, ms: 1.5, defaultMs: 2, timings: [], refused: [] });

describe('the autotune cache file', () => {
  it('is where CHH_TUNE_CACHE says, else in the user cache folder; off means none', () => {
    const saved = { ...process.env };
    try {
      process.env.CHH_TUNE_CACHE = 'off';
      expect(tuneCachePath()).toBeNull();
      process.env.CHH_TUNE_CACHE = '/some/file.json';
      expect(tuneCachePath()).toBe('/some/file.json');
      delete process.env.CHH_TUNE_CACHE;
      process.env.XDG_CACHE_HOME = '/xdg';
      expect(tuneCachePath()).toBe('/xdg/chh-webgpu/autotune.json');
    } finally {
      process.env = saved;
    }
  });

  it('is written, read back, and given to a new engine on its adapter', async () => {
    const path = join(dir, 'a', 'autotune.json');
    const first = await engine(null);
    await saveTuneChoices(path, first.adapter, [choice('dgrad f32 shape-1'), choice('dgrad f32 shape-2')]);
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    expect(doc.adapters[adapterIdentity(first.adapter)].kernels).toBe(kernelSetChecksum());
    const second = await engine(path);
    expect(conv2dTuning(second).tuned.get('dgrad f32 shape-2')).toEqual(choice('x').kernel);
    expect(conv2dTuning(second).tuned.size).toBe(2);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('is ignored once the kernels change: a warning, the defaults, then the next save replaces the stale choices', async () => {
    const path = join(dir, 'b.json');
    const e = await engine(null);
    await saveTuneChoices(path, e.adapter, [choice('old')]);
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    doc.adapters[adapterIdentity(e.adapter)].kernels = 'checksum of an older kernel set';
    writeFileSync(path, JSON.stringify(doc));
    const warnings: string[] = [];
    expect(await loadTuneCache(e, path, (w) => warnings.push(w))).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/timed with other kernels/);
    await saveTuneChoices(path, e.adapter, [choice('new')]);
    const shapes = (await readTuneCache(path)).adapters[adapterIdentity(e.adapter)].shapes;
    expect(Object.keys(shapes)).toEqual(['new']);
  });

  it('survives a corrupt file: one warning line naming it, the defaults, and a valid file after the next save', async () => {
    const path = join(dir, 'c.json');
    writeFileSync(path, '{"format": "chh-webgpu/autotune", "adapters": {"x": ');
    const warnings: string[] = [];
    const e = await engine(null);
    expect(await loadTuneCache(e, path, (w) => warnings.push(w))).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(path);
    expect(warnings[0]).not.toContain('\n');
    await saveTuneChoices(path, e.adapter, [choice('k')], () => {});
    expect(Object.keys((await readTuneCache(path)).adapters)).toEqual([adapterIdentity(e.adapter)]);
  });

  it('keeps both processes\' choices when two save at once', async () => {
    const path = join(dir, 'd.json');
    const run = (prefix: string) =>
      new Promise<number>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'helpers', 'tune-writer.ts'), path, prefix, '15'], { stdio: 'inherit' });
        child.on('exit', (code) => resolve(code ?? -1));
      });
    expect(await Promise.all([run('p'), run('q')])).toEqual([0, 0]);
    const warnings: string[] = [];
    const cache = await readTuneCache(path, (w) => warnings.push(w));
    expect(warnings).toEqual([]);
    const keys = Object.keys(Object.values(cache.adapters)[0].shapes).sort();
    const want = [...Array.from({ length: 15 }, (_, i) => `p-${i}`), ...Array.from({ length: 15 }, (_, i) => `q-${i}`)].sort();
    expect(keys).toEqual(want);
  });
});
