// Weights files: a model's state as safetensors with PyTorch names (state-dict.ts), and the metadata our files
// carry beside it, the model configuration and the input size it was trained at. Both are written and read here
// only: a file converted from the authors' PyTorch checkpoint has no metadata, and gets the paper's model with the
// file's landmark count.
import type { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { ResnetUnet, MODEL_PRESETS, type UnetConfig } from '../nn/unet.ts';
import type { ModelState } from '../nn/module.ts';
import { loadSafetensors, saveSafetensors, type CheckpointFormat } from './state-dict.ts';
import { parseSafetensors, parseSafetensorsHeader } from './safetensors.ts';

export interface InputSize {
  width: number;
  height: number;
}

/** The metadata entries of a weights file: the model configuration and the input size. */
export function weightsMetadata(config: UnetConfig, inputSize: InputSize): Record<string, string> {
  return { config: JSON.stringify(config), input_width: String(inputSize.width), input_height: String(inputSize.height) };
}

/** The input size a weights file records (ours), else null (converted PyTorch weights). Reads only the header. */
export function weightsInputSize(bytes: Uint8Array): InputSize | null {
  const meta = parseSafetensorsHeader(bytes).metadata;
  const width = Number(meta.input_width);
  const height = Number(meta.input_height);
  return width > 0 && height > 0 ? { width, height } : null;
}

/** The model configuration stored in a weights file (ours), else the paper's with the file's landmark count. */
export function configFromWeights(bytes: Uint8Array | ArrayBuffer, fallback: UnetConfig = MODEL_PRESETS.paper): UnetConfig {
  const { tensors, metadata } = parseSafetensors(bytes);
  if (metadata.config) return JSON.parse(metadata.config) as UnetConfig;
  const head = tensors.get('segmentation_head.0.weight') ?? tensors.get('unet.segmentation_head.0.weight');
  return head ? { ...fallback, landmarks: head.shape[0] } : { ...fallback };
}

/**
 * A weights file: the model's state with PyTorch names (CHH names with `temperatures` when given, smp names
 * without) and the configuration and input size as metadata. Always f32.
 */
export function saveWeights(model: ResnetUnet, state: ModelState, inputSize: InputSize, temperatures?: Tensor): Promise<Uint8Array> {
  return saveSafetensors(model, state, temperatures, weightsMetadata(model.config, inputSize));
}

export interface LoadedModel {
  model: ResnetUnet;
  state: ModelState;
  config: UnetConfig;
  format: CheckpointFormat;
  /** One per landmark: the file's (CHH names carry them), else all 1. */
  temperatures: Float32Array;
  /** The input size the model was trained at, when the file says, else null. */
  inputSize: InputSize | null;
  /** Frees the model's GPU memory. */
  dispose(): void;
}

/** Builds the model a .safetensors file describes and loads its weights (and temperatures) onto the GPU. */
export function loadModel(engine: Engine, bytes: Uint8Array | ArrayBuffer, options: { fallback?: UnetConfig } = {}): LoadedModel {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const config = configFromWeights(data, options.fallback);
  const inputSize = weightsInputSize(data);
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
