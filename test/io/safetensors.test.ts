// safetensors: round trips of every dtype (files for the read-only dtypes are built byte by byte here), the
// header layout, and one test per malformed-file error. Pure TypeScript: no GPU.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_HEADER_BYTES, parseSafetensors, parseSafetensorsHeader, serializeSafetensors, type SafetensorsDType } from '../../src/io/safetensors.ts';

/** Builds a file from a header object and a raw data section, exactly as given (no checks). */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Encodes values in a dtype (little-endian), independently of the module under test. */
function encode(dtype: SafetensorsDType, values: number[]): Uint8Array {
  const size = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4 }[dtype];
  const out = new Uint8Array(values.length * size);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    if (dtype === 'F32') v.setFloat32(i * 4, x, true);
    else if (dtype === 'F64') v.setFloat64(i * 8, x, true);
    else if (dtype === 'I32') v.setInt32(i * 4, x, true);
    else if (dtype === 'I64') v.setBigInt64(i * 8, BigInt(x), true);
    else if (dtype === 'BF16') v.setUint16(i * 2, new Uint32Array(new Float32Array([x]).buffer)[0] >>> 16, true);
    else v.setUint16(i * 2, x, true); // F16: raw bit patterns given
  });
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('safetensors round trips', () => {
  it('writes F32, I64 and I32 and reads them back, with metadata, scalars and empty tensors', () => {
    const f32 = Float32Array.from([1.5, -2.25, 3e-8, 1e30, -0, Math.PI, NaN, Infinity]);
    const bytes = serializeSafetensors(
      new Map([
        ['a.weight', { shape: [2, 4], data: f32 }],
        ['a.num_batches_tracked', { dtype: 'I64' as const, shape: [], data: [123456789012] }],
        ['idx', { dtype: 'I32' as const, shape: [3], data: Int32Array.from([-5, 0, 2147483647]) }],
        ['empty', { shape: [0, 3], data: new Float32Array(0) }],
      ]),
      { format: 'pt', note: 'ünïcode' },
    );
    // The header is padded to a multiple of 8 bytes so the data is 8-byte aligned.
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const { tensors, metadata } = parseSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect([...tensors.keys()]).toEqual(['a.weight', 'a.num_batches_tracked', 'idx', 'empty']);
    const a = tensors.get('a.weight')!;
    expect(a.dtype).toBe('F32');
    expect(a.shape).toEqual([2, 4]);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(Array.from(a.data)).toEqual(Array.from(f32));
    const nb = tensors.get('a.num_batches_tracked')!;
    expect(nb).toMatchObject({ dtype: 'I64', shape: [] });
    expect(Array.from(nb.data)).toEqual([123456789012]);
    const idx = tensors.get('idx')!;
    expect(idx.data).toBeInstanceOf(Int32Array);
    expect(Array.from(idx.data)).toEqual([-5, 0, 2147483647]);
    expect(tensors.get('empty')!.data.length).toBe(0);
    // And the bytes survive a second round trip unchanged.
    expect(serializeSafetensors(tensors, metadata)).toEqual(bytes);
  });

  it('reads F64, F16, BF16, negative I64 and I32 written independently, at unaligned offsets', () => {
    // F16 bit patterns: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0, +inf, NaN
    const f16 = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x7e00];
    const parts: [string, SafetensorsDType, number[], number[]][] = [
      ['h', 'F16', [8], f16],
      ['d', 'F64', [3], [0.1, -1e-300, 12345.678]],
      ['b', 'BF16', [2, 2], [1, -3.5, 0.15625, 256]],
      ['q', 'I64', [3], [-1, 0, 2 ** 53 - 1]],
      ['i', 'I32', [1, 2], [-7, 9]],
    ];
    const header: Record<string, unknown> = { __metadata__: {} };
    const blobs: Uint8Array[] = [];
    let off = 0;
    for (const [name, dtype, shape, values] of parts) {
      const b = encode(dtype, values);
      header[name] = { dtype, shape, data_offsets: [off, off + b.length] };
      blobs.push(b);
      off += b.length;
    }
    // The header length (odd, unpadded) puts the data at an unaligned offset on purpose.
    const file = rawFile(header, concat(...blobs));
    const { tensors } = parseSafetensors(file.buffer as ArrayBuffer);
    expect(Array.from(tensors.get('h')!.data)).toEqual([1, -2, 0.5, 65504, 2 ** -24, -0, Infinity, NaN]);
    expect(tensors.get('d')!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(tensors.get('d')!.data)).toEqual(Array.from(Float32Array.from([0.1, -1e-300, 12345.678])));
    expect(Array.from(tensors.get('b')!.data)).toEqual([1, -3.5, 0.15625, 256]);
    expect(tensors.get('b')!.shape).toEqual([2, 2]);
    expect(Array.from(tensors.get('q')!.data)).toEqual([-1, 0, 2 ** 53 - 1]);
    expect(Array.from(tensors.get('i')!.data)).toEqual([-7, 9]);
  });

  it('reads the PyTorch-written fixture (test/fixtures/unet.weights.safetensors)', () => {
    const { tensors } = parseSafetensors(readFileSync(new URL('../fixtures/unet.weights.safetensors', import.meta.url)));
    expect(tensors.get('temperatures')!.shape).toEqual([1, 3, 1, 1]);
    expect(tensors.get('unet.encoder.bn1.num_batches_tracked')!.dtype).toBe('I64');
    expect(tensors.get('unet.encoder.conv1.weight')!.shape).toEqual([8, 1, 7, 7]);
    const t = Array.from(tensors.get('temperatures')!.data);
    expect(t.every((v) => v >= 0.6 && v <= 1.6)).toBe(true);
    const nb = tensors.get('unet.encoder.bn1.num_batches_tracked')!.data[0];
    expect(Number.isInteger(nb) && nb >= 1 && nb < 50).toBe(true);
  });

  it('decodes Node Buffers, including small pooled ones that share memory at an offset', () => {
    const bytes = serializeSafetensors({ a: { shape: [2], data: [7, 8] }, n: { dtype: 'I32', shape: [1], data: [5] } });
    for (const buf of [Buffer.from(bytes), Buffer.concat([Buffer.from('xyz'), Buffer.from(bytes)]).subarray(3)]) {
      const { tensors } = parseSafetensors(buf);
      expect(Array.from(tensors.get('a')!.data)).toEqual([7, 8]);
      expect(Array.from(tensors.get('n')!.data)).toEqual([5]);
    }
  });
});

describe('safetensors rejects malformed files with a clear error', () => {
  const good = () => serializeSafetensors({ x: { shape: [2], data: [1, 2] }, y: { shape: [1], data: [3] } });
  const hdr = (h: unknown, data = new Uint8Array(12)) => rawFile(h, data);
  const x = (begin: number, end: number, dtype = 'F32', shape = [2]) => ({ dtype, shape, data_offsets: [begin, end] });

  it('a file shorter than 8 bytes', () => {
    expect(() => parseSafetensors(new Uint8Array(5))).toThrow(/5 bytes long, shorter than the 8-byte header length/);
    expect(() => parseSafetensors(new Uint8Array(0))).toThrow(/0 bytes long/);
  });

  it('a header length beyond the file or above the cap', () => {
    const f = good();
    new DataView(f.buffer).setUint32(0, f.length, true);
    expect(() => parseSafetensors(f)).toThrow(/runs past the end of the file/);
    const big = new Uint8Array(16);
    new DataView(big.buffer).setUint32(0, MAX_HEADER_BYTES + 1, true);
    expect(() => parseSafetensors(big)).toThrow(/above the limit/);
    new DataView(big.buffer).setUint32(4, 1, true); // > 2^32
    expect(() => parseSafetensors(big)).toThrow(/above the limit/);
  });

  it('malformed JSON, or JSON that is not an object, or bad UTF-8', () => {
    expect(() => parseSafetensors(rawFile(null, new Uint8Array(0), '{"x": {"dtype": "F32",'))).toThrow(/not valid JSON/);
    expect(() => parseSafetensors(rawFile(null, new Uint8Array(0), '[1, 2]'))).toThrow(/must be a JSON object/);
    const bad = rawFile(null, new Uint8Array(0), '{"a" :1}');
    bad[9] = 0xff;
    expect(() => parseSafetensors(bad)).toThrow(/not valid UTF-8/);
    expect(() => parseSafetensors(hdr({ x: [1, 2] }))).toThrow(/tensor "x": the entry must be an object/);
    expect(() => parseSafetensors(hdr({ __metadata__: { a: 1 } }, new Uint8Array(0)))).toThrow(/"__metadata__"."a" must be a string/);
  });

  it('an unknown dtype', () => {
    expect(() => parseSafetensors(hdr({ x: x(0, 8, 'F8_E4M3') }, new Uint8Array(8)))).toThrow(/tensor "x": unknown or unsupported dtype "F8_E4M3"/);
  });

  it('bad shapes and offsets', () => {
    expect(() => parseSafetensors(hdr({ x: x(0, 8, 'F32', [2.5] as number[]) }))).toThrow(/shape must be a list of non-negative integers/);
    expect(() => parseSafetensors(hdr({ x: { dtype: 'F32', shape: [2], data_offsets: [0] } }))).toThrow(/data_offsets must be \[begin, end\]/);
    expect(() => parseSafetensors(hdr({ x: x(8, 0) }))).toThrow(/end before they begin/);
    // offsets not matching dtype * shape
    expect(() => parseSafetensors(hdr({ x: x(0, 12) }, new Uint8Array(12)))).toThrow(/span 12 bytes, but F32 \[2\] needs 8/);
    expect(() => parseSafetensors(hdr({ x: x(0, 8, 'I64', [2]) }, new Uint8Array(8)))).toThrow(/needs 16/);
  });

  it('overlapping tensors, holes and trailing bytes', () => {
    expect(() => parseSafetensors(hdr({ x: x(0, 8), y: x(4, 12) }))).toThrow(/tensor "y": data_offsets \[4, 12\] overlap those of "x" \[0, 8\]/);
    expect(() => parseSafetensors(hdr({ x: x(4, 12) }))).toThrow(/leaving a hole at \[0, 4\)/);
    expect(() => parseSafetensors(hdr({ x: x(0, 8) }))).toThrow(/cover 8 bytes but the data section holds 12 \(trailing bytes\)/);
  });

  it('a truncated data section', () => {
    const f = good();
    expect(() => parseSafetensors(f.subarray(0, f.length - 1))).toThrow(/tensor "y": data_offsets \[8, 12\] run past the end of the data section \(11 bytes; the file is truncated\)/);
  });

  it('I64 values beyond 2^53', () => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigInt64(0, 2n ** 60n, true);
    expect(() => parseSafetensors(hdr({ n: x(0, 8, 'I64', []) }, data))).toThrow(/beyond 2\^53/);
  });

  it('header-only parsing sees the same errors and reports offsets', () => {
    const h = parseSafetensorsHeader(good());
    expect(h.entries.map((e) => [e.name, e.begin, e.end])).toEqual([['x', 0, 8], ['y', 8, 12]]);
    expect(() => parseSafetensorsHeader(new Uint8Array(3))).toThrow(/shorter than/);
  });

  it('refuses to write bad input', () => {
    expect(() => serializeSafetensors({ x: { shape: [3], data: [1, 2] } })).toThrow(/2 values do not fill shape \[3\]/);
    expect(() => serializeSafetensors({ x: { dtype: 'F16', shape: [1], data: [1] } })).toThrow(/writing dtype F16 is not supported/);
    expect(() => serializeSafetensors({ x: { dtype: 'I64', shape: [1], data: [1.5] } })).toThrow(/not a valid I64/);
    expect(() => serializeSafetensors({ __metadata__: { shape: [1], data: [1] } })).toThrow(/cannot be used as a tensor name/);
    expect(() => parseSafetensors('abc' as unknown as Uint8Array)).toThrow(/expected the file's bytes/);
  });
});
