// Heatmap frames for the page: an RGB (or gray) image (report/overlay.ts) as an ImageBitmap, made in the worker
// and transferred, so the page only draws it (drawImage) and the points over it.
import type { PngImage } from '../io/png.ts';
import type { HeatmapFrame, OverlayPoints } from './protocol.ts';

/** RGBA pixels of an image with 1 (gray) or 3 or 4 channels. */
export function rgbaPixels(img: PngImage): Uint8ClampedArray<ArrayBuffer> {
  const n = img.width * img.height;
  const c = img.channels;
  const out = new Uint8ClampedArray(4 * n);
  for (let i = 0; i < n; i++) {
    if (c >= 3) {
      out[4 * i] = img.pixels[c * i];
      out[4 * i + 1] = img.pixels[c * i + 1];
      out[4 * i + 2] = img.pixels[c * i + 2];
    } else {
      out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = img.pixels[c * i];
    }
    out[4 * i + 3] = 255;
  }
  return out;
}

/** A frame: the image as an ImageBitmap (createImageBitmap, in a worker or a page), and the points. */
export async function renderFrame(image: PngImage, points: OverlayPoints): Promise<HeatmapFrame> {
  const bitmap = await createImageBitmap(new ImageData(rgbaPixels(image), image.width, image.height));
  return { ...points, bitmap };
}
