// Files written whole or not at all: the bytes go to a temporary file beside the target, `.NAME.PID.N.tmp`, which is
// then renamed over it (a rename within a folder is atomic), so a crash or a full disk mid-write leaves the previous
// file intact. A failed write removes its temporary file; the temporary files of processes that were killed are
// removed by cleanStaleTemps on the next run.
import { mkdir, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let sequence = 0;

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${sequence++}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

const TEMP = /^\..+?\.(\d+)(?:\.\d+)?\.tmp$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, but belongs to someone else
  }
}

/** Removes the temporary files that processes no longer running left in `dir`; returns their names. */
export async function cleanStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => {
    const m = TEMP.exec(n);
    return m !== null && !alive(Number(m[1]));
  });
  await Promise.all(stale.map((n) => rm(join(dir, n), { force: true })));
  return stale;
}

/**
 * Runs fn holding `${path}.lock`, so that read-modify-write cycles on `path` by several processes happen one after
 * another (each still writes atomically). The lock file holds its owner's pid: one whose owner is no longer
 * running is taken over. Waits up to `timeoutMs` for a live owner, then fails naming the lock.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const lock = `${path}.lock`;
  await mkdir(dirname(lock), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(lock, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
    // An empty file is a lock being written this instant; a dead owner's lock is stale.
    if (owner > 0 && !alive(owner)) await rm(lock, { force: true });
    else if (Date.now() > deadline) throw new Error(`${lock}: held by process ${owner || '(unknown)'} for over ${timeoutMs / 1000} s; remove it if that process is gone`);
    else await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

