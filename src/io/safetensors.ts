// The safetensors format (https://github.com/huggingface/safetensors), read and written on plain bytes so it works
// in Node and in the browser alike (no file system here: pass the bytes of a file, or of a fetch() response).
//
// Layout: 8 bytes, the header length N as a little-endian u64; N bytes of UTF-8 JSON
//   { "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ..., "__metadata__": { str: str } }
// then the data section, every tensor's little-endian, row-major bytes at [begin, end) relative to its start.
// As the reference implementation requires, tensors must not overlap and must cover the data section exactly (no
// holes, no trailing bytes). Every check runs on the CPU, before the caller allocates anything on the GPU.
//
// Read: F32, F64, F16 and BF16 become Float32Array; I32 becomes Int32Array; I64 becomes Float64Array (exact for
// integers up to 2^53, a larger value is an error). Write: F32 and I64 (PyTorch's num_batches_tracked), and I32.

export type SafetensorsDType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32';

/** Element size in bytes of each supported dtype. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4 };

/** Dtypes that may be written. */
export const WRITABLE_DTYPES: readonly SafetensorsDType[] = ['F32', 'I64', 'I32'];

/** Data as read (see the file comment) or as accepted for writing. */
export type TensorValues = Float32Array | Float64Array | Int32Array | readonly number[];

export interface SafeTensor {
  /** The dtype in the file (read), or to write (default F32). */
  dtype?: SafetensorsDType;
  /** [] for a scalar (one element). */
  shape: readonly number[];
  data: TensorValues;
}

export interface ParsedSafetensors {
  /** Tensors in the order of their data offsets (the order they were written in). */
  tensors: Map<string, SafeTensor & { dtype: SafetensorsDType; shape: number[] }>;
  metadata: Record<string, string>;
}

/** The largest JSON header accepted (the reference implementation uses 100 MB as well). */
export const MAX_HEADER_BYTES = 100_000_000;

const DTYPES = Object.keys(DTYPE_BYTES) as SafetensorsDType[];
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function fail(message: string): never {
  throw new Error(`safetensors: ${message}`);
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function toBytes(input: Uint8Array | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const kind = input === null ? 'null' : ((input as object)?.constructor?.name ?? typeof input);
  return fail(`expected the file's bytes as a Uint8Array or an ArrayBuffer, got ${kind}`);
}

/** IEEE half to float. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Reads the header only (names, dtypes, shapes, offsets, metadata) after checking it completely; cheap, so a UI can
 * show what a file holds, or a loader can check names and shapes before decoding anything.
 */
export function parseSafetensorsHeader(input: Uint8Array | ArrayBuffer): {
  entries: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[];
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file. */
  dataStart: number;
} {
  const bytes = toBytes(input);
  if (bytes.byteLength < 8) fail(`the file is ${bytes.byteLength} bytes long, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (headerLen > MAX_HEADER_BYTES) fail(`the header length ${headerLen} is above the limit of ${MAX_HEADER_BYTES} bytes (not a safetensors file?)`);
  if (8 + headerLen > bytes.byteLength) {
    fail(`the header length ${headerLen} runs past the end of the file (${bytes.byteLength} bytes; truncated, or not a safetensors file?)`);
  }
  if (headerLen < 2) fail(`the header length ${headerLen} is too small to hold a JSON object`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    return fail('the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header must be a JSON object');

  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('"__metadata__" must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"__metadata__"."${k}" must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(`tensor "${name}": the entry must be an object {dtype, shape, data_offsets}`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(DTYPES as string[]).includes(dtype)) {
      fail(`tensor "${name}": unknown or unsupported dtype ${JSON.stringify(dtype)} (supported: ${DTYPES.join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${name}": shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${name}": data_offsets must be [begin, end], two non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    if (end < begin) fail(`tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
    const dt = dtype as SafetensorsDType;
    const expected = numel(shape) * DTYPE_BYTES[dt];
    if (end - begin !== expected) {
      fail(`tensor "${name}": data_offsets [${begin}, ${end}] span ${end - begin} bytes, but ${dt} [${shape.join(',')}] needs ${expected}`);
    }
    if (end > dataLen) {
      fail(`tensor "${name}": data_offsets [${begin}, ${end}] run past the end of the data section (${dataLen} bytes; the file is truncated)`);
    }
    entries.push({ name, dtype: dt, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.begin < covered) {
      fail(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap those of "${entries[i - 1].name}" [${entries[i - 1].begin}, ${entries[i - 1].end}]`);
    }
    if (e.begin > covered) fail(`tensor "${e.name}": data_offsets begin at ${e.begin}, leaving a hole at [${covered}, ${e.begin}) in the data section`);
    covered = e.end;
  }
  if (covered !== dataLen) fail(`the tensors cover ${covered} bytes but the data section holds ${dataLen} (trailing bytes)`);
  return { entries, metadata, dataStart };
}

function decode(bytes: Uint8Array, dtype: SafetensorsDType, n: number, name: string): Float32Array | Int32Array | Float64Array {
  // A copy into a fresh buffer (offset 0), so typed-array views of it are aligned. Not bytes.slice(): on a Node
  // Buffer that returns a view sharing the file's (or Node's pooled) memory.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  const view = new DataView(copy.buffer);
  switch (dtype) {
    case 'F32': {
      if (LITTLE_ENDIAN) return new Float32Array(copy.buffer, 0, n);
      return Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
    }
    case 'I32': {
      if (LITTLE_ENDIAN) return new Int32Array(copy.buffer, 0, n);
      return Int32Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true));
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'I64': {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(i * 8, true);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
          fail(`tensor "${name}": I64 value ${v} at index ${i} is beyond 2^53 and cannot be represented exactly`);
        }
        out[i] = Number(v);
      }
      return out;
    }
  }
}

/** Parses a whole safetensors file. Throws `safetensors: <what is wrong>` on any malformed input. */
export function parseSafetensors(input: Uint8Array | ArrayBuffer): ParsedSafetensors {
  const bytes = toBytes(input);
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes);
  const tensors: ParsedSafetensors['tensors'] = new Map();
  for (const e of entries) {
    const data = decode(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.dtype, numel(e.shape), e.name);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

function checkWritable(name: string, t: SafeTensor): SafetensorsDType {
  if (name === '__metadata__' || name.length === 0) fail(`"${name}" cannot be used as a tensor name`);
  if (t === null || typeof t !== 'object') fail(`tensor "${name}": expected {shape, data}, got ${String(t)}`);
  const dtype = t.dtype ?? 'F32';
  if (!WRITABLE_DTYPES.includes(dtype)) fail(`tensor "${name}": writing dtype ${dtype} is not supported (use ${WRITABLE_DTYPES.join(', ')})`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor "${name}": shape must be a list of non-negative integers, got ${JSON.stringify(t.shape)}`);
  }
  const n = numel(t.shape);
  if (!t.data || typeof t.data.length !== 'number' || t.data.length !== n) {
    fail(`tensor "${name}": ${t.data?.length} values do not fill shape [${t.shape.join(',')}] (${n} elements)`);
  }
  if (dtype !== 'F32') {
    for (let i = 0; i < n; i++) {
      const v = t.data[i];
      const ok = Number.isInteger(v) && (dtype === 'I64' ? Number.isSafeInteger(v) : v >= -(2 ** 31) && v < 2 ** 31);
      if (!ok) fail(`tensor "${name}": value ${v} at index ${i} is not a valid ${dtype}`);
    }
  }
  return dtype;
}

/**
 * Serializes tensors (in the map's / object's order) with optional string metadata. The header is padded with
 * spaces to a multiple of 8 bytes, so every tensor's data starts 8-byte aligned in the file.
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, SafeTensor> | Readonly<Record<string, SafeTensor>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, SafeTensor>);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') fail(`metadata "${k}" must be a string, got ${JSON.stringify(v)}`);
    header.__metadata__ = metadata;
  }
  let offset = 0;
  const dtypes: SafetensorsDType[] = [];
  for (const [name, t] of list) {
    const dtype = checkWritable(name, t);
    dtypes.push(dtype);
    const bytes = numel(t.shape) * DTYPE_BYTES[dtype];
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.byteLength % 2 ** 32, true);
  view.setUint32(4, Math.floor(json.byteLength / 2 ** 32), true);
  out.set(json, 8);
  let pos = 8 + json.byteLength;
  list.forEach(([, t], k) => {
    const n = numel(t.shape);
    const d = t.data;
    switch (dtypes[k]) {
      case 'F32':
        if (LITTLE_ENDIAN) out.set(new Uint8Array(Float32Array.from(d as ArrayLike<number>).buffer), pos);
        else for (let i = 0; i < n; i++) view.setFloat32(pos + 4 * i, d[i], true);
        pos += 4 * n;
        break;
      case 'I32':
        for (let i = 0; i < n; i++) view.setInt32(pos + 4 * i, d[i], true);
        pos += 4 * n;
        break;
      case 'I64':
        for (let i = 0; i < n; i++) view.setBigInt64(pos + 8 * i, BigInt(d[i]), true);
        pos += 8 * n;
        break;
      default:
        fail(`writing dtype ${dtypes[k]} is not supported`);
    }
  });
  return out;
}
