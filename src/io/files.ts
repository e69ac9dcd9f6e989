// Generic read/write access to a '/'-separated folder tree, independent of where the bytes live: the FileSource and
// FileSink interfaces, MemoryFileSystem (in-memory bytes: browser, tests, the synthetic set without disk),
// fileListSource (browser File objects from <input webkitdirectory>) and path helpers. src/node/files.ts implements
// the same interfaces over fs. This is the io layer: the data loaders (src/data) build on it, not the reverse, so
// nothing here imports from src/data. A browser source over a FileSystemDirectoryHandle (entries() with kind,
// getFile()) fits the same interface.

export interface FileEntry {
  name: string;
  kind: 'file' | 'directory';
}

export interface FileStat {
  size: number;
  mtimeMs: number;
}

/** Read access to a folder tree. Paths are '/'-separated and relative to the tree's root ('' is the root). */
export interface FileSource {
  /** Entries of a directory; rejects if it does not exist. */
  list(dir: string): Promise<FileEntry[]>;
  /** A file's bytes; rejects if it does not exist. */
  read(path: string): Promise<Uint8Array>;
  /** Size and modification time, for cache keys; without it the cache is keyed by a content hash. */
  stat?(path: string): Promise<FileStat>;
  /** How to name a path in messages (e.g. the absolute path); default: the relative path. */
  describe?(path: string): string;
}

/** Write access to a folder tree (parents are created as needed). */
export interface FileSink {
  write(path: string, bytes: Uint8Array): Promise<void>;
}

/** An in-memory folder tree: a FileSource and a FileSink (browser, tests, the synthetic set without disk). */
export class MemoryFileSystem implements FileSource, FileSink {
  readonly files = new Map<string, { bytes: Uint8Array; mtimeMs: number }>();
  private clock = 0;

  constructor(private readonly label = 'memory:') {}

  async write(path: string, bytes: Uint8Array): Promise<void> {
    this.files.set(normalize(path), { bytes, mtimeMs: ++this.clock });
  }

  async read(path: string): Promise<Uint8Array> {
    const f = this.files.get(normalize(path));
    if (!f) throw new Error(`${this.describe(path)}: no such file`);
    return f.bytes;
  }

  async stat(path: string): Promise<FileStat> {
    const f = this.files.get(normalize(path));
    if (!f) throw new Error(`${this.describe(path)}: no such file`);
    return { size: f.bytes.length, mtimeMs: f.mtimeMs };
  }

  async list(dir: string): Promise<FileEntry[]> {
    const prefix = normalize(dir) === '' ? '' : `${normalize(dir)}/`;
    const seen = new Map<string, FileEntry>();
    for (const path of this.files.keys()) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length);
      const slash = rest.indexOf('/');
      const name = slash < 0 ? rest : rest.slice(0, slash);
      if (!seen.has(name)) seen.set(name, { name, kind: slash < 0 ? 'file' : 'directory' });
    }
    if (seen.size === 0 && prefix !== '') throw new Error(`${this.describe(dir)}: no such directory`);
    return [...seen.values()];
  }

  describe(path: string): string {
    return `${this.label}${normalize(path)}`;
  }
}

/**
 * A FileSource over browser File objects, e.g. from <input type="file" webkitdirectory> (paths from
 * webkitRelativePath, else the name). The folder the user picked is the first path component of every file; it is
 * stripped when all files share it, so the tree's root is the dataset folder itself.
 */
export function fileListSource(files: Iterable<File>): FileSource {
  return pathFileSource(pickedFiles(files));
}

/** A picked file with its path in the folder picked (what a worker gets: a File's webkitRelativePath may not travel). */
export interface PathFile {
  path: string;
  file: Blob & { lastModified?: number };
}

/** Picked File objects with their paths (webkitRelativePath, else the name). */
export function pickedFiles(files: Iterable<File>): PathFile[] {
  return [...files].map((f) => ({ file: f, path: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name }));
}

/** fileListSource over files with their paths given. */
export function pathFileSource(files: Iterable<PathFile>): FileSource {
  const all = [...files].map((f) => ({ file: f.file, path: normalize(f.path) }));
  const first = all[0]?.path.split('/')[0];
  const strip = first !== undefined && all.every((f) => f.path.startsWith(`${first}/`));
  const byPath = new Map<string, PathFile['file']>();
  for (const { file, path } of all) byPath.set(strip ? path.slice(first.length + 1) : path, file);
  const memory = new MemoryFileSystem('');
  for (const path of byPath.keys()) memory.files.set(path, { bytes: new Uint8Array(0), mtimeMs: 0 });
  const get = (path: string): PathFile['file'] => {
    const f = byPath.get(normalize(path));
    if (!f) throw new Error(`${path}: no such file`);
    return f;
  };
  return {
    list: (dir) => memory.list(dir),
    read: async (path) => new Uint8Array(await get(path).arrayBuffer()),
    stat: async (path) => {
      const f = get(path);
      return { size: f.size, mtimeMs: f.lastModified ?? 0 };
    },
  };
}

/** A path without empty or '.' segments ('a//./b/' is 'a/b'; '' is the root). */
function normalize(path: string): string {
  return path.split('/').filter((p) => p !== '' && p !== '.').join('/');
}

/** Joins path parts with '/' and normalizes the result. */
export function joinPath(...parts: string[]): string {
  return normalize(parts.join('/'));
}
