// Atomic writes (src/node/atomic.ts): the file is replaced whole, the old one survives a failed write, and no
// temporary file is left behind either way.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/node/atomic.ts';

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
