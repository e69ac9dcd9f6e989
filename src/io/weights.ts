// Weights files: a model's state as safetensors with PyTorch names (state-dict.ts), and the metadata our files
// carry beside it, the model configuration, the input size it was trained at and how training kept activations
// (`precision`: f32 or f16; the weights themselves are always f32). Both are written and read here
// only: a file converted from the authors' PyTorch checkpoint has no metadata, and gets the paper's model with the
// file's landmark count.
import type { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { ResnetUnet, MODEL_PRESETS, inputSizeProblem, type UnetConfig } from '../nn/unet.ts';
import type { ModelState } from '../nn/module.ts';
import { loadStateDict, saveSafetensors, type CheckpointFormat } from './state-dict.ts';
import { parseSafetensors, parseSafetensorsHeader, type SafeTensor } from './safetensors.ts';

/** A training checkpoint (src/chh/checkpoint.ts): weights, plus optimizer state under OPTIMIZER_PREFIX. */
export const CHECKPOINT_FORMAT = 'chh-webgpu training checkpoint';
export const OPTIMIZER_PREFIX = 'optimizer.';

export interface InputSize {
  width: number;
  height: number;
}

/** The metadata entries of a weights file: the model configuration, the input size, and the training precision when known. */
export function weightsMetadata(config: UnetConfig, inputSize: InputSize, precision?: string): Record<string, string> {
  const meta: Record<string, string> = { config: JSON.stringify(config), input_width: String(inputSize.width), input_height: String(inputSize.height) };
  if (precision) meta.precision = precision;
  return meta;
}

const invalid = (what: string): Error => new Error(`the weights' metadata is invalid: ${what}`);

/** The input size recorded in a weights file's metadata (ours), else null (converted PyTorch weights). */
export function inputSizeOf(metadata: Readonly<Record<string, string>>): InputSize | null {
  if (metadata.input_width === undefined && metadata.input_height === undefined) return null;
  const width = Number(metadata.input_width);
  const height = Number(metadata.input_height);
  const problem = inputSizeProblem(width, height);
  if (problem) throw invalid(`input_width x input_height ${metadata.input_width} x ${metadata.input_height}: ${problem}`);
  return { width, height };
}

/** The input size a weights file records, else null. Reads only the header. */
export function weightsInputSize(bytes: Uint8Array): InputSize | null {
  return inputSizeOf(parseSafetensorsHeader(bytes).metadata);
}

const positiveInts = (v: unknown, n: number): boolean => Array.isArray(v) && v.length === n && v.every((d) => Number.isInteger(d) && d > 0);

/** The configuration in a weights file's metadata, checked field by field. */
function parseConfig(text: string): UnetConfig {
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw invalid(`config is not JSON (${(e as Error).message}): ${text.slice(0, 80)}`);
  }
  const r = (c ?? {}) as Record<string, unknown>;
  const bad: string[] = [];
  for (const k of ['inChannels', 'landmarks']) if (!(Number.isInteger(r[k]) && (r[k] as number) > 0)) bad.push(`${k} must be a positive integer`);
  if (!positiveInts(r.encoderChannels, 5)) bad.push('encoderChannels must be 5 positive integers');
  if (!positiveInts(r.encoderBlocks, 4)) bad.push('encoderBlocks must be 4 positive integers');
  if (!positiveInts(r.decoderChannels, 5)) bad.push('decoderChannels must be 5 positive integers');
  if (bad.length > 0) throw invalid(`config ${text.slice(0, 120)}: ${bad.join('; ')}`);
  return r as unknown as UnetConfig;
}

/** The model configuration stored in a weights file (ours), else the paper's with the file's landmark count. */
export function configFromWeights(bytes: Uint8Array | ArrayBuffer, fallback: UnetConfig = MODEL_PRESETS.paper): UnetConfig {
  const { tensors, metadata } = parseSafetensors(bytes);
  return configOf(tensors, metadata, fallback);
}

function configOf(tensors: ReadonlyMap<string, SafeTensor>, metadata: Readonly<Record<string, string>>, fallback: UnetConfig): UnetConfig {
  if (metadata.config !== undefined) return parseConfig(metadata.config);
  const head = tensors.get('segmentation_head.0.weight') ?? tensors.get('unet.segmentation_head.0.weight');
  return head ? { ...fallback, landmarks: head.shape[0] } : { ...fallback };
}

/**
 * A weights file: the model's state with PyTorch names (CHH names with `temperatures` when given, smp names
 * without) and the configuration and input size as metadata. Always f32.
 */
export function saveWeights(model: ResnetUnet, state: ModelState, inputSize: InputSize, temperatures?: Tensor, precision?: string): Promise<Uint8Array> {
  return saveSafetensors(model, state, temperatures, weightsMetadata(model.config, inputSize, precision));
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
  /** How training kept activations (f32 or f16), when the file says, else null. */
  precision: string | null;
  /** Frees the model's GPU memory. */
  dispose(): void;
}

/**
 * Builds the model a .safetensors file describes and loads its weights (and temperatures) onto the GPU. A training
 * checkpoint works too: its weights are loaded, its optimizer state ignored.
 */
export function loadModel(engine: Engine, bytes: Uint8Array | ArrayBuffer, options: { fallback?: UnetConfig } = {}): LoadedModel {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const { tensors, metadata } = parseSafetensors(data);
  const config = configOf(tensors, metadata, options.fallback ?? MODEL_PRESETS.paper);
  const inputSize = inputSizeOf(metadata);
  const weights = metadata.format === CHECKPOINT_FORMAT ? new Map([...tensors].filter(([name]) => !name.startsWith(OPTIMIZER_PREFIX))) : tensors;
  const model = new ResnetUnet(config);
  const state = model.allocate(engine, 0);
  try {
    const r = loadStateDict(model, state, weights);
    return {
      model,
      state,
      config,
      format: r.format,
      temperatures: r.temperatures ?? new Float32Array(config.landmarks).fill(1),
      inputSize,
      precision: metadata.precision ?? null,
      dispose: () => state.dispose(),
    };
  } catch (e) {
    state.dispose();
    throw e;
  }
}
