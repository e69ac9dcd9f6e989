// BMP decoding to 8-bit grayscale and 8-bit grayscale encoding. Pure TypeScript over Uint8Array: runs in the
// browser and in Node.
//
// Decodes what the ISBI 2015 cephalometric images use (8-bit paletted with a gray palette, bottom-up rows padded
// to 4 bytes) and also 24-bit (BGR) and 32-bit (BGRX / BGRA, uncompressed or BI_BITFIELDS) BMPs, bottom-up or
// top-down (negative height), with a BITMAPCOREHEADER (12 bytes) or a BITMAPINFOHEADER (40) or its V2-V5
// extensions (52, 56, 108, 124). Colour is converted to gray with the weights skimage's rgb2gray uses (which the
// reference code reads its images through): 0.2125 R + 0.7154 G + 0.0721 B. A gray palette (r = g = b) maps
// exactly. Any problem throws a BmpError whose message starts with the file name. parseHeader validates in small
// steps, in this order: magic, DIB header, dimensions, bit depth, compression and masks, palette, pixel data.

export interface GrayImage {
  width: number;
  height: number;
  /** width * height gray levels 0-255, rows top to bottom. */
  data: Uint8Array;
}

export class BmpError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'BmpError';
    this.file = file;
  }
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;
const COMPRESSION_NAMES: Record<number, string> = {
  1: 'BI_RLE8',
  2: 'BI_RLE4',
  4: 'BI_JPEG',
  5: 'BI_PNG',
  11: 'BI_CMYK',
  12: 'BI_CMYKRLE8',
  13: 'BI_CMYKRLE4',
};
/** Refuse anything above this many pixels (a 1935x2400 ISBI image is 4.6 M). */
const MAX_PIXELS = 1 << 28;

function grayOf(r: number, g: number, b: number): number {
  if (r === g && g === b) return r;
  const v = 0.2125 * r + 0.7154 * g + 0.0721 * b;
  return Math.min(255, Math.max(0, Math.round(v)));
}

/** Reads the width and height from the header only (cheap; validates the magic and header like decodeBmp). */
export function bmpSize(bytes: Uint8Array, file = '<bmp>'): { width: number; height: number } {
  const h = parseHeader(bytes, file);
  return { width: h.width, height: h.height };
}

interface Header {
  width: number;
  height: number;
  topDown: boolean;
  bpp: number;
  compression: number;
  dataOffset: number;
  stride: number;
  palette: Uint8Array | null; // gray level per palette index
  masks: [number, number, number] | null; // r, g, b masks for 32-bit bitfields
}

/** The fields of the DIB header (BITMAPCOREHEADER, or BITMAPINFOHEADER and its V2-V5 extensions) that decoding uses. */
interface InfoHeader {
  /** The DIB header's size in bytes (12, 40, 52, 56, 64, 108 or 124). */
  dibSize: number;
  width: number;
  /** Negative for top-down rows. */
  rawHeight: number;
  planes: number;
  bpp: number;
  compression: number;
  colorsUsed: number;
  sizeImage: number;
  /** Bytes per palette entry: 3 (RGB) with a BITMAPCOREHEADER, else 4 (RGBX). */
  paletteEntrySize: number;
}

/** Parses and validates the headers, palette and masks; checks that the pixel data fits in the file. */
function parseHeader(bytes: Uint8Array, file: string): Header {
  checkMagic(bytes, file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dataOffset = view.getUint32(10, true);
  const info = readInfoHeader(bytes, view, file);
  const { width, height, topDown } = checkDimensions(info, file);
  const { bpp, compression } = info;
  if (bpp !== 8 && bpp !== 24 && bpp !== 32) {
    throw new BmpError(file, `unsupported BMP bit depth ${bpp} (supported: 8-bit paletted, 24-bit, 32-bit)`);
  }
  const masks = readMasks(bytes, view, info, file);
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  const palette = bpp === 8 ? readPalette(bytes, info, file) : null;
  checkPixelData(bytes, info, { width, height, stride, dataOffset }, file);
  return { width, height, topDown, bpp, compression, dataOffset, stride, palette, masks };
}

/** The file header starts with "BM" and the file holds at least the fields read before the DIB header's size. */
function checkMagic(bytes: Uint8Array, file: string): void {
  if (bytes.length < 2 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) {
    const got = bytes.length < 2 ? `${bytes.length} byte(s)` : `0x${hex(bytes[0])} 0x${hex(bytes[1])}`;
    throw new BmpError(file, `not a BMP file (bad magic: expected "BM", got ${got})`);
  }
  if (bytes.length < 26) throw truncatedHeader(bytes, file);
}

function truncatedHeader(bytes: Uint8Array, file: string): BmpError {
  return new BmpError(file, `truncated BMP: ${bytes.length} bytes, smaller than its header`);
}

/** Reads the DIB header (after the 14-byte file header), whichever of the supported sizes it has. */
function readInfoHeader(bytes: Uint8Array, view: DataView, file: string): InfoHeader {
  const dibSize = view.getUint32(14, true);
  let info: InfoHeader;
  if (dibSize === 12) {
    info = {
      dibSize,
      width: view.getUint16(18, true),
      rawHeight: view.getInt16(20, true),
      planes: view.getUint16(22, true),
      bpp: view.getUint16(24, true),
      compression: BI_RGB,
      colorsUsed: 0,
      sizeImage: 0,
      paletteEntrySize: 3,
    };
  } else if (dibSize === 40 || dibSize === 52 || dibSize === 56 || dibSize === 64 || dibSize === 108 || dibSize === 124) {
    if (bytes.length < 14 + 40) throw truncatedHeader(bytes, file);
    info = {
      dibSize,
      width: view.getInt32(18, true),
      rawHeight: view.getInt32(22, true),
      planes: view.getUint16(26, true),
      bpp: view.getUint16(28, true),
      compression: view.getUint32(30, true),
      sizeImage: view.getUint32(34, true),
      colorsUsed: view.getUint32(46, true),
      paletteEntrySize: 4,
    };
  } else {
    throw new BmpError(file, `unsupported BMP header size ${dibSize} (expected 12, 40, 52, 56, 64, 108 or 124)`);
  }
  if (bytes.length < 14 + dibSize) throw truncatedHeader(bytes, file);
  return info;
}

/** Checks the plane count and the dimensions; the height is made positive, its sign giving the row order. */
function checkDimensions(info: InfoHeader, file: string): { width: number; height: number; topDown: boolean } {
  const { width, rawHeight, planes } = info;
  if (planes !== 1) throw new BmpError(file, `invalid BMP: ${planes} colour planes (must be 1)`);
  if (width <= 0 || rawHeight === 0) throw new BmpError(file, `invalid BMP dimensions ${width}x${rawHeight}`);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width * height > MAX_PIXELS) throw new BmpError(file, `BMP dimensions ${width}x${height} are too large`);
  return { width, height, topDown };
}

/** The r, g, b bit-field masks of a BI_BITFIELDS image, null if uncompressed; other compressions are refused. */
function readMasks(bytes: Uint8Array, view: DataView, info: InfoHeader, file: string): [number, number, number] | null {
  const { bpp, compression } = info;
  if (compression !== BI_BITFIELDS && compression !== BI_ALPHABITFIELDS) {
    if (compression === BI_RGB) return null;
    const name = COMPRESSION_NAMES[compression] ?? `type ${compression}`;
    throw new BmpError(file, `unsupported BMP compression ${name} (only uncompressed BMPs are supported)`);
  }
  if (bpp !== 32) throw new BmpError(file, `unsupported BMP: BI_BITFIELDS with ${bpp}-bit pixels (only 32-bit is supported)`);
  // Masks follow a 40-byte header; in V2+ headers they are part of it (same offset).
  const maskOffset = 14 + 40;
  if (bytes.length < maskOffset + 12) throw new BmpError(file, 'truncated BMP: bit-field masks are missing');
  const masks: [number, number, number] = [
    view.getUint32(maskOffset, true),
    view.getUint32(maskOffset + 4, true),
    view.getUint32(maskOffset + 8, true),
  ];
  for (const m of masks) {
    if (m === 0) throw new BmpError(file, 'unsupported BMP: a zero colour bit-field mask');
  }
  return masks;
}

/** The gray level of each palette index of an 8-bit image (256 entries; unused ones are 0). */
function readPalette(bytes: Uint8Array, info: InfoHeader, file: string): Uint8Array {
  const { colorsUsed, compression, dibSize, paletteEntrySize } = info;
  const count = colorsUsed === 0 ? 256 : colorsUsed;
  if (count > 256) throw new BmpError(file, `invalid BMP: ${count} palette colours for an 8-bit image`);
  const paletteStart = 14 + dibSize + (compression === BI_BITFIELDS && dibSize === 40 ? 12 : 0);
  if (paletteStart + count * paletteEntrySize > bytes.length) {
    throw new BmpError(file, `truncated BMP: the ${count}-colour palette does not fit in ${bytes.length} bytes`);
  }
  const palette = new Uint8Array(256);
  for (let i = 0; i < count; i++) {
    const o = paletteStart + i * paletteEntrySize;
    palette[i] = grayOf(bytes[o + 2], bytes[o + 1], bytes[o]);
  }
  return palette;
}

/** Checks that the pixel data starts after the headers, agrees with the header's image size and fits in the file. */
function checkPixelData(
  bytes: Uint8Array,
  info: InfoHeader,
  layout: { width: number; height: number; stride: number; dataOffset: number },
  file: string,
): void {
  const { bpp, compression, sizeImage, dibSize } = info;
  const { width, height, stride, dataOffset } = layout;
  if (dataOffset < 14 + dibSize || dataOffset > bytes.length) {
    throw new BmpError(file, `invalid BMP: pixel data offset ${dataOffset} is outside the file (${bytes.length} bytes)`);
  }
  const pixelBytes = stride * height;
  if (compression === BI_RGB && sizeImage !== 0 && sizeImage < pixelBytes) {
    throw new BmpError(
      file,
      `BMP dimensions ${width}x${height} at ${bpp} bits need ${pixelBytes} bytes of pixel data but the header says ${sizeImage}`,
    );
  }
  if (dataOffset + pixelBytes > bytes.length) {
    throw new BmpError(
      file,
      `truncated BMP: ${width}x${height} at ${bpp} bits needs ${pixelBytes} bytes of pixel data from offset ${dataOffset}, ` +
        `the file has ${bytes.length - dataOffset}`,
    );
  }
}

function hex(v: number): string {
  return v.toString(16).padStart(2, '0');
}

function maskShift(mask: number): { shift: number; max: number } {
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

/** Decodes a BMP to 8-bit gray. `file` names the file in error messages. */
export function decodeBmp(bytes: Uint8Array, file = '<bmp>'): GrayImage {
  const h = parseHeader(bytes, file);
  const { width, height, stride, dataOffset } = h;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const srcRow = dataOffset + (h.topDown ? y : height - 1 - y) * stride;
    const dst = y * width;
    if (h.palette) {
      const pal = h.palette;
      for (let x = 0; x < width; x++) out[dst + x] = pal[bytes[srcRow + x]];
    } else if (h.bpp === 24) {
      for (let x = 0; x < width; x++) {
        const o = srcRow + 3 * x;
        out[dst + x] = grayOf(bytes[o + 2], bytes[o + 1], bytes[o]);
      }
    } else if (h.masks) {
      const [r, g, b] = h.masks.map(maskShift);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let x = 0; x < width; x++) {
        const p = view.getUint32(srcRow + 4 * x, true);
        const rv = Math.round(((p & h.masks[0]) >>> r.shift) * (255 / r.max));
        const gv = Math.round(((p & h.masks[1]) >>> g.shift) * (255 / g.max));
        const bv = Math.round(((p & h.masks[2]) >>> b.shift) * (255 / b.max));
        out[dst + x] = grayOf(rv, gv, bv);
      }
    } else {
      for (let x = 0; x < width; x++) {
        const o = srcRow + 4 * x;
        out[dst + x] = grayOf(bytes[o + 2], bytes[o + 1], bytes[o]);
      }
    }
  }
  return { width, height, data: out };
}

/** Encodes an 8-bit BMP with a 256-level gray palette, bottom-up rows padded to 4 bytes (the ISBI layout). */
export function encodeBmpGray8(image: GrayImage): Uint8Array {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`encodeBmpGray8: invalid dimensions ${width}x${height}`);
  }
  if (data.length !== width * height) {
    throw new Error(`encodeBmpGray8: ${data.length} pixels for ${width}x${height}`);
  }
  const stride = Math.floor((8 * width + 31) / 32) * 4;
  const dataOffset = 14 + 40 + 256 * 4;
  const size = dataOffset + stride * height;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes[0] = 0x42;
  bytes[1] = 0x4d;
  view.setUint32(2, size, true);
  view.setUint32(10, dataOffset, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, width, true);
  view.setInt32(22, height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, 8, true);
  view.setUint32(30, BI_RGB, true);
  view.setUint32(34, stride * height, true);
  view.setInt32(38, 3780, true); // 96 dpi
  view.setInt32(42, 3780, true);
  view.setUint32(46, 256, true);
  view.setUint32(50, 0, true);
  for (let i = 0; i < 256; i++) {
    const o = 54 + 4 * i;
    bytes[o] = i;
    bytes[o + 1] = i;
    bytes[o + 2] = i;
  }
  for (let y = 0; y < height; y++) {
    bytes.set(data.subarray(y * width, (y + 1) * width), dataOffset + (height - 1 - y) * stride);
  }
  return bytes;
}
