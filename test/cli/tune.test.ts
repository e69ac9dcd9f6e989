// chh tune and train --tune: the conv shapes of a tiny model tuned on this adapter, the winners printed and saved to
// the cache file CHH_TUNE_CACHE names, and read back by the next engine.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/chh.ts';
import { createNodeEngine } from '../../src/node/gpu.ts';
import { conv2dTuning } from '../../src/ops/conv2d/tuning.ts';

const dir = mkdtempSync(join(tmpdir(), 'chh-tune-cli-'));
const cacheFile = join(dir, 'autotune.json');
const out: string[] = [];
let savedEnv: string | undefined;

beforeAll(() => {
  savedEnv = process.env.CHH_TUNE_CACHE;
  process.env.CHH_TUNE_CACHE = cacheFile;
  for (const level of ['log', 'error', 'warn'] as const) vi.spyOn(console, level).mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true); // progress bars
});
afterAll(() => {
  vi.restoreAllMocks();
  if (savedEnv === undefined) delete process.env.CHH_TUNE_CACHE;
  else process.env.CHH_TUNE_CACHE = savedEnv;
});

describe('chh tune', () => {
  it("tunes a model's conv shapes, prints the winners, saves them, and the next engine uses them", async () => {
    const code = await main(['tune', '--model', 'tiny', '--size', '64x64', '--batch', '1', '--landmarks', '3']);
    expect(code, out.join('\n')).toBe(0);
    const text = out.join('\n');
    const saved = /autotune: saved (\d+) choices to (.+)$/m.exec(text);
    expect(saved?.[2]).toBe(cacheFile);
    const n = Number(saved![1]);
    // The tiny UNet at 64x64: forward, dgrad and wgrad of its convolutions (the stem's dgrad is never needed).
    expect(n).toBeGreaterThan(30);
    expect(text).toMatch(/^ {2}forward f32 1x1x64x64 w8x7x7 s2x2 p3x3 +forward\w* TM\d/m);
    expect(text).toMatch(new RegExp(`all ${n} GEMMs: [\\d.]+ ms tuned, [\\d.]+ ms with the defaults`));
    const doc = JSON.parse(readFileSync(cacheFile, 'utf8'));
    expect(Object.keys(Object.values(doc.adapters as Record<string, { shapes: object }>)[0].shapes)).toHaveLength(n);
    const engine = await createNodeEngine();
    try {
      expect(conv2dTuning(engine).tuned.size).toBe(n);
    } finally {
      engine.destroy();
    }
  });

  it('rejects bad options naming them', async () => {
    expect(await main(['tune', '--batch', '0'])).toBe(2);
    expect(out.join('\n')).toMatch(/--batch/);
  });
});
