// A CheckpointStore in IndexedDB (src/chh/train.ts writes one checkpoint per epoch through it), plus the run's
// settings, so that a device loss or a reload can resume from the last finished epoch.
import type { CheckpointStore } from '../src/chh/train.ts';

const DB = 'chh-webgpu-demo';
const STORE = 'files';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB: open failed'));
  });
}

async function tx<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      // Resolve when the transaction commits, so a save is durable (atomic: one put) before training goes on.
      t.oncomplete = () => resolve(req.result);
      t.onerror = () => reject(t.error ?? req.error ?? new Error('IndexedDB: transaction failed'));
      t.onabort = () => reject(t.error ?? new Error('IndexedDB: transaction aborted'));
    });
  } finally {
    db.close();
  }
}

export interface IdbStore extends CheckpointStore {
  remove(name: string): Promise<void>;
  saveJson(name: string, value: unknown): Promise<void>;
  loadJson<T>(name: string): Promise<T | null>;
}

export function idbStore(): IdbStore {
  return {
    async save(name, bytes) {
      await tx('readwrite', (s) => s.put(bytes.slice(), name));
    },
    async load(name) {
      const v = await tx('readonly', (s) => s.get(name));
      return v instanceof Uint8Array ? v : v instanceof ArrayBuffer ? new Uint8Array(v) : null;
    },
    async remove(name) {
      await tx('readwrite', (s) => s.delete(name));
    },
    async saveJson(name, value) {
      await tx('readwrite', (s) => s.put(JSON.stringify(value), name));
    },
    async loadJson<T>(name: string) {
      const v = await tx('readonly', (s) => s.get(name));
      return typeof v === 'string' ? (JSON.parse(v) as T) : null;
    },
  };
}
