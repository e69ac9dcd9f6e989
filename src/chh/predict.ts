// Inference helpers for the library (and the demo page): a model from a .safetensors file (ours, with the model
// configuration in its metadata, or converted from the authors' PyTorch checkpoint: the paper's ResNet34-UNet), and
// the landmarks of one image with their expected radial error (ERE) and an "erroneous" flag, optionally with the
// folded heatmap for an overlay. Browser and Node; no DOM.
import type { Engine } from '../engine/engine.ts';
import { ResnetUnet, MODEL_PRESETS, type UnetConfig } from '../nn/unet.ts';
import type { ModelState } from '../nn/module.ts';
import { loadSafetensors, type CheckpointFormat } from '../io/state-dict.ts';
import { parseSafetensors, parseSafetensorsHeader } from '../io/safetensors.ts';
import { expectedRadialError } from '../ops/ere.ts';
import { decodeBmp } from '../io/bmp.ts';
import { padAndResize } from '../data/resize.ts';
import { ISBI_LANDMARK_NAMES, ISBI_PIXEL_SIZE_MM } from '../data/isbi.ts';
import { pixelCentre } from '../data/batches.ts';
import { heatmapSnapshot, unetNetwork, type HeatmapSnapshot } from './evaluate.ts';

/** The model configuration stored in a weights file (ours), else the paper's with the file's landmark count. */
export function configFromWeights(bytes: Uint8Array | ArrayBuffer, fallback: UnetConfig = MODEL_PRESETS.paper): UnetConfig {
  const { tensors, metadata } = parseSafetensors(bytes);
  if (metadata.config) return JSON.parse(metadata.config) as UnetConfig;
  const head = tensors.get('segmentation_head.0.weight') ?? tensors.get('unet.segmentation_head.0.weight');
  return head ? { ...fallback, landmarks: head.shape[0] } : { ...fallback };
}

export interface LoadedModel {
  model: ResnetUnet;
  state: ModelState;
  config: UnetConfig;
  format: CheckpointFormat;
  /** One per landmark: the file's (CHH names carry them), else all 1. */
  temperatures: Float32Array;
  /** The input size the model was trained at, when the file says (metadata input_width / input_height), else null. */
  inputSize: { width: number; height: number } | null;
  /** Frees the model's GPU memory. */
  dispose(): void;
}

/** Builds the model a .safetensors file describes and loads its weights (and temperatures) onto the GPU. */
export function loadModel(engine: Engine, bytes: Uint8Array | ArrayBuffer, options: { fallback?: UnetConfig } = {}): LoadedModel {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const config = configFromWeights(data, options.fallback);
  const meta = parseSafetensorsHeader(data).metadata;
  const w = Number(meta.input_width);
  const h = Number(meta.input_height);
  const inputSize = w > 0 && h > 0 ? { width: w, height: h } : null;
  const model = new ResnetUnet(config);
  const state = model.allocate(engine, 0);
  try {
    const r = loadSafetensors(model, state, data);
    return {
      model,
      state,
      config,
      format: r.format,
      temperatures: r.temperatures ?? new Float32Array(config.landmarks).fill(1),
      inputSize,
      dispose: () => state.dispose(),
    };
  } catch (e) {
    state.dispose();
    throw e;
  }
}

export interface PredictedLandmark {
  index: number;
  name: string;
  /** The argmax pixel's centre, in the input image's pixels. */
  x: number;
  y: number;
  /** Expected radial error (mm) and the probability of the predicted pixel. */
  ereMm: number;
  modeProbability: number;
  /** ERE above the threshold. */
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
  const pixelMm = options.pixelSizeMm ?? ISBI_PIXEL_SIZE_MM;
  const threshold = options.ereThresholdMm ?? 1.5;
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
      return { index: l, name: names[l] ?? `landmark ${l + 1}`, x, y, ereMm: ere[l], modeProbability: mode[l], erroneous: ere[l] > threshold };
    });
    const heatmap = logits && options.heatmap ? heatmapSnapshot('image', logits, temps, width, height, { maxSize: 320 }) : null;
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
  const gray = decodeBmp(bmp instanceof Uint8Array ? bmp : new Uint8Array(bmp), 'image.bmp');
  const { data, plan } = padAndResize(gray.data, gray.width, gray.height, size.width, size.height);
  const pixelMm = (options.pixelSizeMm ?? ISBI_PIXEL_SIZE_MM) * plan.scale;
  const p = await predictImage(engine, model, state, { data, width: size.width, height: size.height }, { ...options, pixelSizeMm: pixelMm });
  return {
    ...p,
    scale: 1 / plan.scale,
    landmarks: p.landmarks.map((l) => ({ ...l, x: l.x * plan.scale, y: l.y * plan.scale })),
    original: { width: gray.width, height: gray.height },
  };
}
