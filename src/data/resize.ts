// Pad-to-aspect-ratio and downscale, as the reference's cache step does it (imgaug PadToAspectRatio(position =
// 'right-bottom') then Resize to CACHED_IMAGE_SIZE), with an anti-aliased resampler.
//
// Choices (documented here once, used by the ISBI loader and the synthetic set):
// - Coordinates are continuous: pixel i covers [i, i + 1), its centre is at i + 0.5. A landmark (x, y) in original
//   pixels maps to (x / scale, y / scale) in the resized image, which is the rule imgaug applies to keypoints on a
//   resize (x * newWidth / oldWidth) and is exact for the resampler below.
// - Padding is right/bottom with 0 (imgaug's default constant), and is continuous rather than rounded to whole
//   pixels: scale = max(srcWidth / width, srcHeight / height) original pixels per resized pixel on both axes, and
//   the resized image covers [0, width * scale) x [0, height * scale) of the zero-padded original. So x and y share
//   one scale factor (the reference's meta "scale_factor", exactly) and the pixel size is 0.1 mm * scale on both
//   axes. imgaug rounds the padding to whole pixels (1935x2400 -> 1935x2419), so its y scale differs from ours by
//   0.01% (0.08 resized pixels at the bottom of the image).
// - Resampling is area averaging (a box filter of exactly one output pixel's footprint, with fractional coverage at
//   the edges, like OpenCV's INTER_AREA): each output pixel is the mean of the original pixels under it. For the
//   3x downscale of the ISBI images this is the anti-aliased choice; imgaug's default (cubic, no prefilter) aliases.
//   Upscaling (scale < 1) with area averaging is nearest-like; it is correct but not pretty (not needed here).

export interface PadResizePlan {
  srcWidth: number;
  srcHeight: number;
  width: number;
  height: number;
  /** Original pixels per resized pixel, on both axes. */
  scale: number;
}

export function padResizePlan(srcWidth: number, srcHeight: number, width: number, height: number): PadResizePlan {
  for (const [name, v] of [['srcWidth', srcWidth], ['srcHeight', srcHeight], ['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`padResizePlan: ${name} must be a positive integer, got ${v}`);
  }
  return { srcWidth, srcHeight, width, height, scale: Math.max(srcWidth / width, srcHeight / height) };
}

interface AxisWeights {
  start: Int32Array; // first source index per output index
  count: Int32Array; // number of source indices per output index
  offset: Int32Array; // into weights
  weights: Float32Array;
}

/** Overlap weights of output cells [i*scale, (i+1)*scale) with source cells [j, j+1), j < srcSize (beyond: 0 pad). */
function axisWeights(srcSize: number, dstSize: number, scale: number): AxisWeights {
  const start = new Int32Array(dstSize);
  const count = new Int32Array(dstSize);
  const offset = new Int32Array(dstSize);
  const list: number[] = [];
  for (let i = 0; i < dstSize; i++) {
    const a = i * scale;
    const b = (i + 1) * scale;
    const j0 = Math.floor(a);
    const j1 = Math.min(srcSize, Math.ceil(b));
    start[i] = j0;
    offset[i] = list.length;
    let n = 0;
    for (let j = j0; j < j1; j++) {
      const overlap = Math.min(b, j + 1) - Math.max(a, j);
      if (overlap > 0) {
        list.push(overlap / scale);
      } else {
        list.push(0);
      }
      n++;
    }
    count[i] = Math.max(0, n);
  }
  return { start, count, offset, weights: Float32Array.from(list) };
}

/**
 * Area-averaging resize of a single-channel image: output pixel (i, j) is the mean of the source over
 * [j*scaleX, (j+1)*scaleX) x [i*scaleY, (i+1)*scaleY), the source being 0 outside its bounds.
 */
export function areaResize(
  src: ArrayLike<number>,
  srcWidth: number,
  srcHeight: number,
  width: number,
  height: number,
  scaleX: number,
  scaleY: number,
): Float32Array {
  if (src.length !== srcWidth * srcHeight) {
    throw new Error(`areaResize: ${src.length} pixels for ${srcWidth}x${srcHeight}`);
  }
  const wx = axisWeights(srcWidth, width, scaleX);
  const wy = axisWeights(srcHeight, height, scaleY);
  // Horizontal pass over the source rows that any output row reads.
  const rowsNeeded = Math.min(srcHeight, Math.ceil(height * scaleY));
  const tmp = new Float32Array(rowsNeeded * width);
  for (let y = 0; y < rowsNeeded; y++) {
    const row = y * srcWidth;
    const out = y * width;
    for (let i = 0; i < width; i++) {
      const s = wx.start[i];
      const o = wx.offset[i];
      const n = wx.count[i];
      let acc = 0;
      for (let k = 0; k < n; k++) acc += wx.weights[o + k] * src[row + s + k];
      tmp[out + i] = acc;
    }
  }
  const out = new Float32Array(width * height);
  for (let i = 0; i < height; i++) {
    const s = wy.start[i];
    const o = wy.offset[i];
    const n = wy.count[i];
    const dst = i * width;
    for (let k = 0; k < n; k++) {
      const w = wy.weights[o + k];
      if (w === 0) continue;
      const r = (s + k) * width;
      for (let x = 0; x < width; x++) out[dst + x] += w * tmp[r + x];
    }
  }
  return out;
}

/** Pads right/bottom with 0 to the target aspect ratio and area-resizes to width x height (see the file header). */
export function padAndResize(
  src: ArrayLike<number>,
  srcWidth: number,
  srcHeight: number,
  width: number,
  height: number,
): { data: Float32Array; plan: PadResizePlan } {
  const plan = padResizePlan(srcWidth, srcHeight, width, height);
  return { data: areaResize(src, srcWidth, srcHeight, width, height, plan.scale, plan.scale), plan };
}

/** Rounds to 0-255 bytes (the reference caches its resized images as 8-bit PNGs). */
export function toBytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(data[i])));
  return out;
}
