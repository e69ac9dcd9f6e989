// Raw RGB images (report.ts overlayImage) into canvases.
import type { PngImage } from '../src/io/png.ts';

export function drawRgb(canvas: HTMLCanvasElement, img: PngImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const data = ctx.createImageData(img.width, img.height);
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    const c = img.channels;
    if (c >= 3) {
      data.data[4 * i] = img.pixels[c * i];
      data.data[4 * i + 1] = img.pixels[c * i + 1];
      data.data[4 * i + 2] = img.pixels[c * i + 2];
    } else {
      const g = img.pixels[i];
      data.data[4 * i] = data.data[4 * i + 1] = data.data[4 * i + 2] = g;
    }
    data.data[4 * i + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
}

export function download(name: string, data: Uint8Array | string, type: string): void {
  const blob = new Blob([typeof data === 'string' ? data : data.slice().buffer], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export interface OverlayPoints {
  /** Width of the image the points are in (pixels of the network input). */
  imageWidth: number;
  /** L * 2 (x, y) in image pixels; truth may be empty. */
  truth: ArrayLike<number>;
  predicted: ArrayLike<number>;
  flagged: ArrayLike<boolean>;
}

/**
 * The heatmap image (report.ts overlayImage without points) scaled up to about displayWidth pixels, then the points
 * drawn as vectors at that scale so they stay small and crisp on small images: truth as green crosses, predictions
 * as red dots joined to their truth, predictions flagged erroneous by ERE in yellow squares.
 */
export function drawOverlay(canvas: HTMLCanvasElement, base: PngImage, points: OverlayPoints, displayWidth = 400): void {
  const k = Math.max(1, Math.round(displayWidth / base.width));
  const off = document.createElement('canvas');
  drawRgb(off, base);
  canvas.width = base.width * k;
  canvas.height = base.height * k;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  const s = canvas.width / points.imageWidth;
  const L = points.predicted.length / 2;
  const hasTruth = points.truth.length === points.predicted.length;
  const r = Math.max(3, canvas.width / 110);
  ctx.lineWidth = Math.max(1, r / 3);
  for (let l = 0; l < L; l++) {
    const px = points.predicted[2 * l] * s;
    const py = points.predicted[2 * l + 1] * s;
    if (hasTruth) {
      const tx = points.truth[2 * l] * s;
      const ty = points.truth[2 * l + 1] * s;
      ctx.strokeStyle = 'rgba(200, 200, 255, 0.9)';
      ctx.beginPath();
      ctx.moveTo(px, py);
      ctx.lineTo(tx, ty);
      ctx.stroke();
      ctx.strokeStyle = '#28ff3c';
      ctx.beginPath();
      ctx.moveTo(tx - r, ty);
      ctx.lineTo(tx + r, ty);
      ctx.moveTo(tx, ty - r);
      ctx.lineTo(tx, ty + r);
      ctx.stroke();
    }
  }
  for (let l = 0; l < L; l++) {
    const px = points.predicted[2 * l] * s;
    const py = points.predicted[2 * l + 1] * s;
    ctx.fillStyle = '#ff2828';
    ctx.beginPath();
    ctx.arc(px, py, r * 0.7, 0, 2 * Math.PI);
    ctx.fill();
    if (points.flagged[l]) {
      ctx.strokeStyle = '#ffe600';
      ctx.strokeRect(px - r * 1.6, py - r * 1.6, r * 3.2, r * 3.2);
    }
  }
}
