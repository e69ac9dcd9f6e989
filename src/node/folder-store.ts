// A CheckpointStore in a folder. Each save is atomic (atomic.ts), so a crash mid-write leaves the previous
// checkpoint intact.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointStore } from '../chh/train.ts';
import { writeFileAtomic } from './atomic.ts';

export function folderStore(dir: string): CheckpointStore {
  return {
    save(name: string, bytes: Uint8Array): Promise<void> {
      return writeFileAtomic(join(dir, name), bytes);
    },
    async load(name: string): Promise<Uint8Array | null> {
      try {
        const b = await readFile(join(dir, name));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    },
  };
}
