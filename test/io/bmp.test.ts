import { describe, expect, it } from 'vitest';
import { BmpError, bmpSize, decodeBmp, encodeBmpGray8 } from '../../src/io/bmp.ts';

/** Builds a BMP by hand: rows given top to bottom, each already packed (no padding), BITMAPINFOHEADER. */
function handBmp(opts: {
  width: number;
  height: number;
  bpp: number;
  rows: number[][];
  topDown?: boolean;
  palette?: [number, number, number][];
  compression?: number;
  masks?: [number, number, number];
}): Uint8Array {
  const { width, height, bpp, rows } = opts;
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  const paletteBytes = (opts.palette?.length ?? 0) * 4;
  const maskBytes = opts.masks ? 12 : 0;
  const offset = 14 + 40 + maskBytes + paletteBytes;
  const size = offset + stride * height;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  b[0] = 0x42;
  b[1] = 0x4d;
  v.setUint32(2, size, true);
  v.setUint32(10, offset, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, width, true);
  v.setInt32(22, opts.topDown ? -height : height, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, bpp, true);
  v.setUint32(30, opts.compression ?? 0, true);
  v.setUint32(34, stride * height, true);
  v.setUint32(46, opts.palette?.length ?? 0, true);
  if (opts.masks) opts.masks.forEach((m, i) => v.setUint32(54 + 4 * i, m, true));
  opts.palette?.forEach(([r, g, bl], i) => {
    const o = 14 + 40 + maskBytes + 4 * i;
    b[o] = bl;
    b[o + 1] = g;
    b[o + 2] = r;
  });
  rows.forEach((row, y) => {
    const fileRow = opts.topDown ? y : height - 1 - y;
    b.set(row, offset + fileRow * stride);
  });
  return b;
}

const gray = (r: number, g: number, b: number): number => Math.round(0.2125 * r + 0.7154 * g + 0.0721 * b);

describe('BMP', () => {
  it('round-trips 8-bit gray through encode/decode (odd width: padded rows)', () => {
    const width = 13;
    const height = 7;
    const data = new Uint8Array(width * height).map((_, i) => (i * 37 + 11) % 256);
    const bytes = encodeBmpGray8({ width, height, data });
    expect(bytes.length).toBe(14 + 40 + 1024 + 16 * height);
    expect(bmpSize(bytes)).toEqual({ width, height });
    const back = decodeBmp(bytes, 'x.bmp');
    expect(back.width).toBe(width);
    expect(back.height).toBe(height);
    expect(Array.from(back.data)).toEqual(Array.from(data));
    // Bottom-up: the first stored row is the image's last row.
    expect(Array.from(bytes.subarray(1078, 1078 + width))).toEqual(Array.from(data.subarray((height - 1) * width)));
  });

  it('decodes a hand-built 24-bit bottom-up BMP to gray', () => {
    // 3x2 (9 bytes per row, padded to 12). Pixels as [r, g, b].
    const px = [
      [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
      [[10, 10, 10], [200, 100, 50], [255, 255, 255]],
    ];
    const rows = px.map((row) => row.flatMap(([r, g, b]) => [b, g, r]));
    const img = decodeBmp(handBmp({ width: 3, height: 2, bpp: 24, rows }), 'rgb.bmp');
    expect(img.width).toBe(3);
    expect(img.height).toBe(2);
    expect(Array.from(img.data)).toEqual(px.flat().map(([r, g, b]) => gray(r, g, b)));
    expect(img.data[3]).toBe(10); // gray stays exact
  });

  it('decodes top-down BMPs (negative height): 8-bit paletted and 32-bit', () => {
    const palette: [number, number, number][] = Array.from({ length: 256 }, (_, i) => [255 - i, 255 - i, 255 - i]);
    const rows8 = [
      [0, 1, 2, 3, 4],
      [250, 251, 252, 253, 254],
    ];
    const img8 = decodeBmp(handBmp({ width: 5, height: 2, bpp: 8, rows: rows8, topDown: true, palette }), 'td8.bmp');
    expect(Array.from(img8.data)).toEqual(rows8.flat().map((i) => 255 - i)); // palette applied, rows in order

    const px = [
      [[1, 2, 3], [40, 40, 40]],
      [[90, 30, 200], [0, 0, 0]],
      [[255, 255, 255], [7, 7, 7]],
    ];
    const rows32 = px.map((row) => row.flatMap(([r, g, b]) => [b, g, r, 255]));
    const img32 = decodeBmp(handBmp({ width: 2, height: 3, bpp: 32, rows: rows32, topDown: true }), 'td32.bmp');
    expect(Array.from(img32.data)).toEqual(px.flat().map(([r, g, b]) => gray(r, g, b)));
    // Same pixels through BI_BITFIELDS masks.
    const bf = decodeBmp(
      handBmp({ width: 2, height: 3, bpp: 32, rows: rows32, compression: 3, masks: [0x00ff0000, 0x0000ff00, 0x000000ff] }),
      'bf.bmp',
    );
    expect(Array.from(bf.data)).toEqual(Array.from(img32.data));
  });

  describe('corrupt files give an error naming the file', () => {
    const good = (): Uint8Array => encodeBmpGray8({ width: 10, height: 6, data: new Uint8Array(60).fill(128) });
    const expectError = (bytes: Uint8Array, pattern: RegExp): void => {
      let error: unknown;
      try {
        decodeBmp(bytes, 'RawImage/TrainingData/007.bmp');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BmpError);
      expect((error as BmpError).file).toBe('RawImage/TrainingData/007.bmp');
      expect((error as Error).message).toMatch(/^RawImage\/TrainingData\/007\.bmp: /);
      expect((error as Error).message).toMatch(pattern);
    };

    it('bad magic', () => {
      const b = good();
      b[0] = 0x89;
      b[1] = 0x50;
      expectError(b, /not a BMP file \(bad magic/);
      expectError(new Uint8Array(0), /bad magic/);
    });

    it('truncated', () => {
      expectError(good().subarray(0, good().length - 5), /truncated BMP/);
      expectError(good().subarray(0, 20), /truncated BMP/);
      expectError(good().subarray(0, 300), /truncated BMP|palette/);
    });

    it('unsupported compression', () => {
      const b = good();
      new DataView(b.buffer).setUint32(30, 1, true); // BI_RLE8
      expectError(b, /unsupported BMP compression BI_RLE8/);
    });

    it('unsupported bit depth', () => {
      const b = good();
      new DataView(b.buffer).setUint16(28, 16, true);
      expectError(b, /unsupported BMP bit depth 16/);
    });

    it('dimensions that do not match the size', () => {
      const wider = good();
      new DataView(wider.buffer).setInt32(18, 40, true); // claims 40 wide: the header's data size says otherwise
      expectError(wider, /dimensions 40x6 at 8 bits need 240 bytes of pixel data but the header says 72/);
      new DataView(wider.buffer).setUint32(34, 0, true); // no data size in the header: the file is too short
      expectError(wider, /truncated BMP: 40x6 at 8 bits needs 240 bytes of pixel data from offset 1078, the file has 72/);
      const header = good();
      new DataView(header.buffer).setUint32(34, 30, true); // header's image size too small for 10x6
      expectError(header, /need 72 bytes of pixel data but the header says 30/);
      const zero = good();
      new DataView(zero.buffer).setInt32(18, 0, true);
      expectError(zero, /invalid BMP dimensions 0x6/);
    });
  });
});
