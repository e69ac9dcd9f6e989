// Atomic writes (src/node/atomic.ts): the file is replaced whole, the old one survives a failed write, and no
// temporary file is left behind either way.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanStaleTemps, writeFileAtomic } from '../../src/node/atomic.ts';

describe('writeFileAtomic', () => {
  it('replaces the file whole and leaves no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chh-atomic-'));
    const file = join(dir, 'sub', 'weights.safetensors');
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(file, 'second');
    expect(readFileSync(file, 'utf8')).toBe('second');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['weights.safetensors']);
  });

  it('keeps the previous file when the write fails, and removes its temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chh-atomic-'));
    const file = join(dir, 'report.html');
    writeFileSync(file, 'good');
    // The rename target is a non-empty directory: the rename fails after the temporary file was written.
    const blocked = join(dir, 'blocked');
    mkdirSync(join(blocked, 'inside'), { recursive: true });
    await expect(writeFileAtomic(blocked, 'new')).rejects.toThrow();
    expect(readFileSync(file, 'utf8')).toBe('good');
    expect(readdirSync(dir).sort()).toEqual(['blocked', 'report.html']);
  });
});

describe('cleanStaleTemps', () => {
  it('removes the temporary files of processes that are gone, and no others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chh-stale-'));
    // A pid far above any this machine hands out: no such process.
    const dead = 4_000_000;
    for (const name of [`.checkpoint.safetensors.${dead}.tmp`, `.weights.safetensors.${dead}.3.tmp`, `.report.html.${process.pid}.0.tmp`, 'weights.safetensors', '.hidden']) {
      writeFileSync(join(dir, name), 'x');
    }
    const removed = await cleanStaleTemps(dir);
    expect(removed.sort()).toEqual([`.checkpoint.safetensors.${dead}.tmp`, `.weights.safetensors.${dead}.3.tmp`]);
    expect(readdirSync(dir).sort()).toEqual(['.hidden', `.report.html.${process.pid}.0.tmp`, 'weights.safetensors']);
    expect(await cleanStaleTemps(join(dir, 'missing'))).toEqual([]);
  });
});

describe('the project', () => {
  it('writes every file through writeFileAtomic (no plain writeFile in src/ or bench/)', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) {
          if (e.name !== 'generated') walk(path);
        } else if (e.name.endsWith('.ts') && path !== join('src', 'node', 'atomic.ts')) {
          const text = readFileSync(path, 'utf8');
          if (/\b(writeFile|writeFileSync|appendFile|appendFileSync|createWriteStream)\s*\(/.test(text)) offenders.push(path);
        }
      }
    };
    walk('src');
    walk('bench');
    expect(offenders).toEqual([]);
  });
});
