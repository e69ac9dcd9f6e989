// Prediction for the library (and the demo page): the landmarks of one image with their expected radial error (ERE)
// and an "erroneous" flag, optionally with the folded heatmap for an overlay. Models come from src/io/weights.ts
// (loadModel). Browser and Node; no DOM.
import type { Engine } from '../engine/engine.ts';
import type { ResnetUnet } from '../nn/unet.ts';
import type { ModelState } from '../nn/module.ts';
import { expectedRadialError } from '../ops/ere.ts';
import { decodeBmp } from '../io/bmp.ts';
import { padAndResize } from '../data/resize.ts';
import { ISBI_LANDMARK_NAMES } from '../data/isbi.ts';
import { pixelCentre } from '../data/batches.ts';
import { heatmapSnapshot, unetNetwork, type HeatmapSnapshot } from './evaluate.ts';
import { EVALUATION, PREDICTION } from './config.ts';

export interface PredictedLandmark {
  index: number;
  name: string;
  /** The argmax pixel's centre, in the input image's pixels. */
  x: number;
  y: number;
  /** Expected radial error (mm) and the probability of the predicted pixel. */
  ereMm: number;
  modeProbability: number;
  /**
   * ERE above the threshold, or not a number (a map with NaN or infinite logits is never reported as fine), or (for
   * predictBmp) a point in the padding outside the image: no landmark lies there.
   */
  erroneous: boolean;
}

export interface Prediction {
  landmarks: PredictedLandmark[];
  /** The image the network saw (resized pixels 0-255, width * height). */
  input: { image: Float32Array; width: number; height: number };
  /** Input pixels per image pixel (1 for predictImage; the resize factor for predictBmp). */
  scale: number;
  /** Folded probability maps of the input image (see heatmapSnapshot), when options.heatmap was set. */
  heatmap: HeatmapSnapshot | null;
  /** The raw logits [1, L, H, W] of the input image, when options.logits was set. */
  logits: Float32Array | null;
}

export interface PredictOptions {
  /** Temperatures (one per landmark); default all 1. */
  temperatures?: ArrayLike<number>;
  /** Millimetres per pixel of the image given (default 0.1, the ISBI scanner). */
  pixelSizeMm?: number;
  /** Landmarks with ERE above this are flagged erroneous (default 1.5 mm, the paper's split). */
  ereThresholdMm?: number;
  /** Also return the folded heatmap (reads the logits back: L * H * W floats). */
  heatmap?: boolean;
  /** Also return the raw logits (L * H * W floats). */
  logits?: boolean;
  /** Landmark names (default: the ISBI 2015 names for 19 landmarks). */
  names?: readonly string[];
  /** The image's name in error messages (predictBmp; default 'image.bmp'). */
  imageName?: string;
}

/** Landmarks of one grayscale image (0-255, width * height values) whose size the model takes (multiples of 32). */
export async function predictImage(
  engine: Engine,
  model: ResnetUnet,
  state: ModelState,
  image: { data: Float32Array; width: number; height: number },
  options: PredictOptions = {},
): Promise<Prediction> {
  const { width, height, data } = image;
  if (width % 32 !== 0 || height % 32 !== 0) throw new Error(`predictImage: the image is ${width}x${height}; the network takes multiples of 32 (use predictBmp to resize)`);
  if (data.length !== width * height) throw new Error(`predictImage: ${data.length} pixels for ${width}x${height}`);
  const L = model.config.landmarks;
  const temps = Float32Array.from(options.temperatures ?? new Float32Array(L).fill(1));
  if (temps.length !== L) throw new Error(`predictImage: ${temps.length} temperatures for ${L} landmarks`);
  const pixelMm = options.pixelSizeMm ?? PREDICTION.pixelSizeMm.default;
  const threshold = options.ereThresholdMm ?? PREDICTION.ereThresholdMm.default;
  const names = options.names ?? (L === ISBI_LANDMARK_NAMES.length ? ISBI_LANDMARK_NAMES : []);
  const out = engine.scope(() => {
    const x = engine.tensor(data, [1, 1, height, width], { label: 'predict.image' });
    const logits = unetNetwork(model, state).forward(x);
    const t = engine.tensor(temps, [L], { label: 'predict.temperatures' });
    const px = engine.tensor([pixelMm, pixelMm], [1, 2], { label: 'predict.pixelSize' });
    const r = engine.noGrad(() => expectedRadialError(logits, t, px));
    return { logits, ...r };
  });
  try {
    const [ere, mode, argmax, logits] = await Promise.all([
      out.ere.read(),
      out.modeProb.read(),
      out.argmax.read(),
      options.heatmap || options.logits ? (out.logits.read() as Promise<Float32Array>) : Promise.resolve(null),
    ]);
    const landmarks = Array.from({ length: L }, (_, l): PredictedLandmark => {
      const [x, y] = pixelCentre(argmax[l], width);
      return { index: l, name: names[l] ?? `landmark ${l + 1}`, x, y, ereMm: ere[l], modeProbability: mode[l], erroneous: !(ere[l] <= threshold) };
    });
    const heatmap = logits && options.heatmap ? heatmapSnapshot('image', logits, temps, width, height, { maxSize: EVALUATION.heatmapMaxSize.default }) : null;
    return { landmarks, input: { image: data, width, height }, scale: 1, heatmap, logits: options.logits ? logits : null };
  } finally {
    for (const t of [out.logits, out.ere, out.modeProb, out.argmax]) t.dispose();
  }
}

/**
 * Landmarks of a BMP (any size, 8/24/32-bit): padded right/bottom and resized to size as the training data was
 * (the ISBI loader's preprocessing), predicted, and mapped back to the BMP's pixels. pixelSizeMm is the BMP's.
 */
export async function predictBmp(
  engine: Engine,
  model: ResnetUnet,
  state: ModelState,
  bmp: Uint8Array | ArrayBuffer,
  size: { width: number; height: number },
  options: PredictOptions = {},
): Promise<Prediction & { original: { width: number; height: number } }> {
  const gray = decodeBmp(bmp instanceof Uint8Array ? bmp : new Uint8Array(bmp), options.imageName ?? 'image.bmp');
  const { data, plan } = padAndResize(gray.data, gray.width, gray.height, size.width, size.height);
  const pixelMm = (options.pixelSizeMm ?? PREDICTION.pixelSizeMm.default) * plan.scale;
  const p = await predictImage(engine, model, state, { data, width: size.width, height: size.height }, { ...options, pixelSizeMm: pixelMm });
  return {
    ...p,
    scale: 1 / plan.scale,
    landmarks: toImagePixels(p.landmarks, plan.scale, gray),
    original: { width: gray.width, height: gray.height },
  };
}

/** Landmarks of the model's input mapped to the image's pixels; one that falls in the padding is flagged erroneous. */
export function toImagePixels(
  landmarks: readonly PredictedLandmark[],
  imagePixelsPerInputPixel: number,
  image: { width: number; height: number },
): PredictedLandmark[] {
  return landmarks.map((l) => {
    const x = l.x * imagePixelsPerInputPixel;
    const y = l.y * imagePixelsPerInputPixel;
    const outside = x > image.width || y > image.height;
    return { ...l, x, y, erroneous: l.erroneous || outside };
  });
}
