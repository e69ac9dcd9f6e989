// A small PNG encoder (8-bit gray, RGB or RGBA, no interlace): signature, IHDR, one IDAT, IEND, each chunk with its
// CRC-32. The IDAT payload is a zlib stream (RFC 1950) of the filtered rows. The compressor is injected, so this
// file runs anywhere:
//   - Node: (raw) => zlib.deflateSync(raw) from node:zlib (synchronous);
//   - browsers: deflateWithCompressionStream (CompressionStream('deflate') makes exactly a zlib stream; async);
//   - default (none given): storedZlib, a valid zlib stream of uncompressed ("stored") deflate blocks: no
//     compression, no dependency, synchronous (a 640x800 RGB overlay is then 1.5 MB).
// Rows use filter 1 (Sub) when a compressor is given (it helps deflate on smooth images) and 0 (None) otherwise.

/** A zlib (RFC 1950) compressor: raw bytes in, a zlib stream out. */
export type ZlibCompress = (raw: Uint8Array) => Uint8Array;
export type ZlibCompressAsync = (raw: Uint8Array) => Promise<Uint8Array>;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, as PNG and zlib's crc32) of bytes, optionally continuing from a previous value. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Adler-32, zlib's stream checksum. */
export function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  const MOD = 65521;
  for (let i = 0; i < bytes.length; ) {
    const end = Math.min(bytes.length, i + 5552); // the largest run without overflow before the modulo
    for (; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= MOD;
    b %= MOD;
  }
  return ((b << 16) | a) >>> 0;
}

/** A zlib stream holding raw in stored (uncompressed) deflate blocks of at most 65535 bytes. */
export function storedZlib(raw: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const out = new Uint8Array(2 + blocks * 5 + raw.length + 4);
  out[0] = 0x78; // CM = 8 (deflate), CINFO = 7 (32 KiB window)
  out[1] = 0x01; // FLEVEL 0, no dictionary; (0x78 * 256 + 0x01) % 31 == 0
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535;
    const len = Math.min(65535, raw.length - start);
    out[o++] = b === blocks - 1 ? 1 : 0; // BFINAL, BTYPE = 00 (stored)
    out[o++] = len & 0xff;
    out[o++] = len >>> 8;
    out[o++] = ~len & 0xff;
    out[o++] = (~len >>> 8) & 0xff;
    out.set(raw.subarray(start, start + len), o);
    o += len;
  }
  const s = adler32(raw);
  out[o++] = s >>> 24;
  out[o++] = (s >>> 16) & 0xff;
  out[o++] = (s >>> 8) & 0xff;
  out[o++] = s & 0xff;
  return out;
}

/** A zlib stream from the browser's (and Node 18+'s) CompressionStream('deflate'). */
export async function deflateWithCompressionStream(raw: Uint8Array): Promise<Uint8Array> {
  const CS = (globalThis as { CompressionStream?: new (format: string) => TransformStream<Uint8Array, Uint8Array> }).CompressionStream;
  if (!CS) throw new Error('deflateWithCompressionStream: CompressionStream is not available here');
  const stream = new Blob([raw as BlobPart]).stream().pipeThrough(new CS('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngImage {
  width: number;
  height: number;
  /** 1 (gray), 3 (RGB) or 4 (RGBA). */
  channels: 1 | 3 | 4;
  /** width * height * channels bytes, rows top to bottom. */
  pixels: Uint8Array;
}

function checkImage(img: PngImage): void {
  const { width, height, channels, pixels } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new Error(`encodePng: size ${width}x${height} must be positive integers`);
  if (![1, 3, 4].includes(channels)) throw new Error(`encodePng: channels must be 1, 3 or 4, got ${channels}`);
  if (pixels.length !== width * height * channels) throw new Error(`encodePng: ${pixels.length} bytes for ${width}x${height}x${channels}`);
}

/** The filtered scanlines: a filter byte then the row, per row. */
function filterRows(img: PngImage, sub: boolean): Uint8Array {
  const { width, height, channels, pixels } = img;
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    raw[o] = sub ? 1 : 0;
    if (!sub) raw.set(row, o + 1);
    else for (let i = 0; i < stride; i++) raw[o + 1 + i] = (row[i] - (i >= channels ? row[i - channels] : 0)) & 0xff;
  }
  return raw;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function assemble(img: PngImage, zlib: Uint8Array): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, img.width);
  v.setUint32(4, img.height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = img.channels === 1 ? 0 : img.channels === 3 ? 2 : 6; // colour type
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  const parts = [PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', zlib), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Encodes a PNG synchronously (with an injected synchronous compressor, else stored blocks). */
export function encodePng(img: PngImage, compress?: ZlibCompress): Uint8Array {
  checkImage(img);
  const raw = filterRows(img, compress !== undefined);
  return assemble(img, compress ? compress(raw) : storedZlib(raw));
}

/** Encodes a PNG with an asynchronous compressor (default: CompressionStream when available, else stored blocks). */
export async function encodePngAsync(img: PngImage, compress?: ZlibCompressAsync): Promise<Uint8Array> {
  checkImage(img);
  const fn = compress ?? ((globalThis as { CompressionStream?: unknown }).CompressionStream ? deflateWithCompressionStream : undefined);
  const raw = filterRows(img, fn !== undefined);
  return assemble(img, fn ? await fn(raw) : storedZlib(raw));
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 (with padding) of bytes. */
export function base64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let line = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i];
    const b = i + 1 < bytes.length ? bytes[i + 1] : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2] : 0;
    const n = (a << 16) | (b << 8) | c;
    line += B64[(n >>> 18) & 63] + B64[(n >>> 12) & 63] + (i + 1 < bytes.length ? B64[(n >>> 6) & 63] : '=') + (i + 2 < bytes.length ? B64[n & 63] : '=');
    if (line.length >= 8192) {
      parts.push(line);
      line = '';
    }
  }
  parts.push(line);
  return parts.join('');
}

/** A data: URI for PNG bytes. */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${base64(png)}`;
}
