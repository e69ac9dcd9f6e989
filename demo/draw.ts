// Heatmap frames (an ImageBitmap rendered in the training worker, and the points) into canvases, and downloads.
import type { HeatmapFrame } from '../src/worker/protocol.ts';

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

/**
 * The frame's heatmap image (report.ts overlayImage without points, as a bitmap) scaled up to about displayWidth
 * pixels, then the points drawn as vectors at that scale so they stay small and crisp on small images: truth as
 * green crosses, predictions as red dots joined to their truth, predictions flagged erroneous by ERE in yellow
 * squares. The frame's bitmap is closed: a frame is drawn once.
 */
export function drawOverlay(canvas: HTMLCanvasElement, points: HeatmapFrame, displayWidth = 400): void {
  const base = points.bitmap;
  const k = Math.max(1, Math.round(displayWidth / base.width));
  canvas.width = base.width * k;
  canvas.height = base.height * k;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(base, 0, 0, canvas.width, canvas.height);
  base.close();
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
