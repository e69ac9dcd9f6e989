// A CheckpointStore in IndexedDB (src/chh/train.ts writes one checkpoint per epoch through it), plus the run's
// settings, so that a device loss or a reload can resume from the last finished epoch. Works in a page and in a
// worker (IndexedDB is in both).
import type { CheckpointStore } from '../chh/train.ts';

/** The database the demo page has always used; a library user may name another (serveTrainingWorker's options). */
export const DEFAULT_DATABASE = 'chh-webgpu-demo';
const STORE = 'files';

function open(database: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(database, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB: open failed'));
  });
}

async function tx<T>(database: string, mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open(database);
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

/** Checkpoints (bytes) and small JSON records by name. */
export interface SessionStore extends CheckpointStore {
  remove(name: string): Promise<void>;
  saveJson(name: string, value: unknown): Promise<void>;
  loadJson<T>(name: string): Promise<T | null>;
}

export function idbStore(database: string = DEFAULT_DATABASE): SessionStore {
  return {
    async save(name, bytes) {
      await tx(database, 'readwrite', (s) => s.put(bytes.slice(), name));
    },
    async load(name) {
      const v = await tx(database, 'readonly', (s) => s.get(name));
      return v instanceof Uint8Array ? v : v instanceof ArrayBuffer ? new Uint8Array(v) : null;
    },
    async remove(name) {
      await tx(database, 'readwrite', (s) => s.delete(name));
    },
    async saveJson(name, value) {
      await tx(database, 'readwrite', (s) => s.put(JSON.stringify(value), name));
    },
    async loadJson<T>(name: string) {
      const v = await tx(database, 'readonly', (s) => s.get(name));
      return typeof v === 'string' ? (JSON.parse(v) as T) : null;
    },
  };
}

/** A SessionStore in memory (tests; a host without IndexedDB): checkpoints last as long as the worker. */
export function memoryStore(): SessionStore {
  const files = new Map<string, Uint8Array | string>();
  return {
    save: async (name, bytes) => void files.set(name, bytes.slice()),
    load: async (name) => {
      const v = files.get(name);
      return v instanceof Uint8Array ? v.slice() : null;
    },
    remove: async (name) => void files.delete(name),
    saveJson: async (name, value) => void files.set(name, JSON.stringify(value)),
    loadJson: async <T>(name: string) => {
      const v = files.get(name);
      return typeof v === 'string' ? (JSON.parse(v) as T) : null;
    },
  };
}
