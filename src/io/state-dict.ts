// Checkpoints: a ResnetUnet's state as PyTorch state_dict entries (names, shapes, values), in and out of the
// safetensors format (safetensors.ts), in either naming:
//   - 'smp': smp.Unet's own names: encoder.conv1.weight, encoder.layer2.0.downsample.1.running_var,
//     decoder.blocks.3.conv1.0.weight, segmentation_head.0.bias, ... (and encoder.bn1.num_batches_tracked, int64 []);
//   - 'chh': the CHH reference's model.Unet wrapper: the same names prefixed with "unet.", plus "temperatures"
//     [1, L, 1, 1] (our temperatures tensor is [L]).
//
// ---- From the authors' PyTorch checkpoint (.pth) to .safetensors -------------------------------------------------
// With the safetensors package (pip install safetensors):
//
//   import torch
//   from safetensors.torch import save_file
//   sd = torch.load("model.pth", map_location="cpu")
//   sd = sd.get("state_dict", sd)                      # a bare state_dict, or one inside a training checkpoint
//   sd = {k.removeprefix("module."): v.contiguous() for k, v in sd.items()}   # DataParallel's prefix, if any
//   save_file(sd, "model.safetensors")
//
// With torch alone (this writer makes the same file format):
//
//   import json, struct, torch
//   def save_safetensors(sd, path):
//       names = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
//                torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32"}
//       header, blobs, offset = {}, [], 0
//       for k, v in sd.items():
//           v = v.detach().cpu().contiguous()
//           b = (v.view(torch.int16) if v.dtype == torch.bfloat16 else v).numpy().tobytes()
//           header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [offset, offset + len(b)]}
//           blobs.append(b); offset += len(b)
//       h = json.dumps(header).encode()
//       h += b" " * (-len(h) % 8)
//       with open(path, "wb") as f:
//           f.write(struct.pack("<Q", len(h))); f.write(h); f.write(b"".join(blobs))
//   sd = torch.load("model.pth", map_location="cpu")
//   save_safetensors(sd.get("state_dict", sd), "model.safetensors")
//
// (Little-endian machines only, which is every machine PyTorch runs on in practice.)
//
// ---- Back to PyTorch ----------------------------------------------------------------------------------------------
// saveSafetensors(...) writes F32 tensors and I64 num_batches_tracked with exactly PyTorch's names and shapes:
//
//   from safetensors.torch import load_file          # or the struct+json reader below
//   sd = load_file("ours.safetensors")
//   model.load_state_dict(sd)                        # model = CHH's model.Unet (chh names) or smp.Unet (smp names)
//
//   # without the safetensors package:
//   import json, struct, numpy as np, torch
//   def load_safetensors(path):
//       raw = open(path, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]; header = json.loads(raw[8:8 + n])
//       np_types = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32}
//       return {k: torch.from_numpy(np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
//                                                  np_types[v["dtype"]]).reshape(v["shape"]).copy())
//               for k, v in header.items() if k != "__metadata__"}
//   torch.save(load_safetensors("ours.safetensors"), "ours.pth")
import type { Tensor } from '../engine/tensor.ts';
import { shapeSize, shapeString } from '../engine/tensor.ts';
import type { ModelState } from '../nn/module.ts';
import type { ResnetUnet } from '../nn/unet.ts';
import { parseSafetensors, serializeSafetensors, type SafeTensor, type SafetensorsDType } from './safetensors.ts';

export type CheckpointFormat = 'smp' | 'chh';

/** A state_dict entry as stateDict() produces it: F32 data, or I64 (num_batches_tracked, shape []). */
export interface StateTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array | Float64Array;
}

export interface LoadOptions {
  /** Which names to expect; 'auto' (default) picks 'chh' when any name is "temperatures" or starts with "unet.". */
  format?: CheckpointFormat | 'auto';
  /** Where a CHH checkpoint's temperatures ([1, L, 1, 1] in the file) are written, if given: an f32 [L] tensor. */
  temperatures?: Tensor;
}

export interface LoadResult {
  format: CheckpointFormat;
  /** The checkpoint's temperatures (length L) for the 'chh' format, else null. */
  temperatures: Float32Array | null;
  /** Number of tensors loaded. */
  loaded: number;
}

const FLOAT_DTYPES: readonly string[] = ['F32', 'F64', 'F16', 'BF16'];
const INT_DTYPES: readonly string[] = ['I64', 'I32'];

interface Expected {
  name: string;
  shape: number[];
  kind: 'param' | 'buffer' | 'tracked' | 'temperatures';
  /** The model's name (without the chh prefix), or the BN prefix for num_batches_tracked. */
  key: string;
}

/** BN layer prefixes (every layer with a running_mean buffer), in declaration order. */
function bnPrefixes(model: ResnetUnet): string[] {
  return model.builder.buffers.filter((b) => b.name.endsWith('.running_mean')).map((b) => b.name.slice(0, -'.running_mean'.length));
}

/**
 * The names and shapes of the model's state_dict, in PyTorch's order (a module's parameters, then its buffers;
 * for BatchNorm: weight, bias, running_mean, running_var, num_batches_tracked). CHH's wrapper registers its own
 * parameter `temperatures` before the child module `unet`, so it comes first.
 */
export function expectedStateDict(model: ResnetUnet, format: CheckpointFormat): Expected[] {
  const prefix = format === 'chh' ? 'unet.' : '';
  const out: Expected[] = [];
  if (format === 'chh') out.push({ name: 'temperatures', shape: [1, model.config.landmarks, 1, 1], kind: 'temperatures', key: 'temperatures' });
  const buffers = new Map(model.builder.buffers.map((b) => [b.name, b]));
  for (const p of model.builder.params) {
    out.push({ name: prefix + p.name, shape: [...p.shape], kind: 'param', key: p.name });
    if (p.name.endsWith('.bias')) {
      const layer = p.name.slice(0, -'.bias'.length);
      for (const stat of ['running_mean', 'running_var']) {
        const b = buffers.get(`${layer}.${stat}`);
        if (b) out.push({ name: `${prefix}${b.name}`, shape: [...b.shape], kind: 'buffer', key: b.name });
      }
      if (buffers.has(`${layer}.running_mean`)) out.push({ name: `${prefix}${layer}.num_batches_tracked`, shape: [], kind: 'tracked', key: layer });
    }
  }
  return out;
}

/**
 * Reads the model's state from the GPU as state_dict entries: smp names without `temperatures`, CHH names (prefix
 * "unet." and "temperatures" [1, L, 1, 1]) with it.
 */
export async function stateDict(model: ResnetUnet, state: ModelState, temperatures?: Tensor): Promise<Map<string, StateTensor>> {
  const format: CheckpointFormat = temperatures ? 'chh' : 'smp';
  if (temperatures) checkTemperatures(model, temperatures, 'stateDict');
  const expected = expectedStateDict(model, format);
  // One read for all parameters (they live in one flat buffer), the running statistics read concurrently.
  const flatRead = state.params.flat.read();
  const bufferReads = new Map<string, Promise<Float32Array | Int32Array>>();
  for (const e of expected) if (e.kind === 'buffer') bufferReads.set(e.key, state.buffer(e.key).read());
  const tempRead = temperatures ? temperatures.read() : null;
  const flat = (await flatRead) as Float32Array;
  const flatBase = state.params.flat.byteOffset;
  const out = new Map<string, StateTensor>();
  for (const e of expected) {
    if (e.kind === 'param') {
      const p = state.param(e.key);
      const start = (p.byteOffset - flatBase) / 4;
      out.set(e.name, { dtype: 'F32', shape: e.shape, data: flat.slice(start, start + p.size) });
    } else if (e.kind === 'buffer') {
      out.set(e.name, { dtype: 'F32', shape: e.shape, data: Float32Array.from(await bufferReads.get(e.key)!) });
    } else if (e.kind === 'tracked') {
      out.set(e.name, { dtype: 'I64', shape: [], data: new Float64Array([state.batchesTracked.get(e.key) ?? 0]) });
    } else {
      out.set(e.name, { dtype: 'F32', shape: e.shape, data: Float32Array.from(await tempRead!) });
    }
  }
  return out;
}

function checkTemperatures(model: ResnetUnet, t: Tensor, op: string): void {
  const l = model.config.landmarks;
  if (t.isDisposed) throw new Error(`${op}: the temperatures tensor was disposed`);
  if (t.dtype !== 'f32' || t.shape.length !== 1 || t.shape[0] !== l) {
    throw new Error(`${op}: temperatures must be an f32 tensor [L] = [${l}], got ${t.dtype} ${shapeString(t.shape)}`);
  }
}

function detectFormat(names: Iterable<string>): CheckpointFormat {
  for (const n of names) if (n === 'temperatures' || n.startsWith('unet.')) return 'chh';
  return 'smp';
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Refuses weights holding NaN or an infinity (a diverged run's, a corrupt file's): every prediction would be
 * meaningless, and the ERE that flags wrong landmarks would be NaN too. Names each tensor.
 */
function checkFinite(op: string, expected: readonly Expected[], tensors: ReadonlyMap<string, SafeTensor>): void {
  const bad: string[] = [];
  for (const e of expected) {
    const data = tensors.get(e.name)!.data;
    let count = 0;
    let first = -1;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(Number(data[i]))) {
        count++;
        if (first < 0) first = i;
      }
    }
    if (count > 0) bad.push(`${e.name}: ${count} of ${data.length} values are not finite (the first, at ${first}, is ${data[first]})`);
  }
  if (bad.length === 0) return;
  throw new Error([`${op}: the weights hold non-finite values, so they cannot be used (${bad.length} tensor${bad.length === 1 ? '' : 's'}):`, ...bad.map((b) => `  ${b}`)].join('\n'));
}

/**
 * Writes a state_dict into the model (parameters, running statistics, num_batches_tracked, and a CHH
 * checkpoint's temperatures into options.temperatures when given). Every name, shape and dtype is checked first;
 * any problem throws ONE error listing everything missing, unexpected or mismatched, and nothing is written.
 */
export function loadStateDict(
  model: ResnetUnet,
  state: ModelState,
  tensors: ReadonlyMap<string, SafeTensor>,
  options: LoadOptions = {},
): LoadResult {
  const op = 'loadStateDict';
  const requested = options.format ?? 'auto';
  if (!['smp', 'chh', 'auto'].includes(requested)) throw new Error(`${op}: format must be 'smp', 'chh' or 'auto', got ${JSON.stringify(requested)}`);
  const format: CheckpointFormat = requested === 'auto' ? detectFormat(tensors.keys()) : requested;
  if (options.temperatures) checkTemperatures(model, options.temperatures, op);
  const expected = expectedStateDict(model, format);
  const expectedNames = new Set(expected.map((e) => e.name));

  const missing: string[] = [];
  const shapeErrors: string[] = [];
  const dtypeErrors: string[] = [];
  for (const e of expected) {
    const t = tensors.get(e.name);
    if (!t) {
      missing.push(`${e.name} ${shapeString(e.shape)}`);
      continue;
    }
    const dtype = t.dtype ?? (t.data instanceof Float64Array || Array.isArray(t.data) ? (e.kind === 'tracked' ? 'I64' : 'F32') : t.data instanceof Int32Array ? 'I32' : 'F32');
    const wantInt = e.kind === 'tracked';
    if (wantInt ? !INT_DTYPES.includes(dtype) : !FLOAT_DTYPES.includes(dtype)) {
      dtypeErrors.push(`${e.name}: expected ${wantInt ? 'an integer dtype (I64 or I32)' : 'a float dtype (F32, F64, F16 or BF16)'}, got ${dtype}`);
    }
    if (!sameShape(t.shape, e.shape)) {
      shapeErrors.push(`${e.name}: expected ${shapeString(e.shape)}, got ${shapeString(t.shape)}`);
    } else if (t.data.length !== shapeSize(e.shape)) {
      shapeErrors.push(`${e.name}: shape ${shapeString(e.shape)} needs ${shapeSize(e.shape)} values, got ${t.data.length}`);
    }
  }
  const unexpected: string[] = [];
  for (const [name, t] of tensors) if (!expectedNames.has(name)) unexpected.push(`${name} ${shapeString(t.shape)}`);

  const problems = missing.length + unexpected.length + shapeErrors.length + dtypeErrors.length;
  if (problems > 0) {
    const lines = [`${op}: the checkpoint does not match the model (${format} names; ${problems} problem${problems === 1 ? '' : 's'}):`];
    const section = (title: string, items: string[]) => {
      if (items.length) lines.push(`  ${title} (${items.length}):`, ...items.map((s) => `    ${s}`));
    };
    section('missing', missing);
    section('unexpected', unexpected);
    section('shape mismatch', shapeErrors);
    section('dtype mismatch', dtypeErrors);
    const other = format === 'chh' ? 'smp' : 'chh';
    if (missing.length === expected.length) lines.push(`  (no expected name was found: is this a ${other} checkpoint? pass { format: '${other}' } or 'auto')`);
    throw new Error(lines.join('\n'));
  }

  checkFinite(op, expected, tensors);
  // Everything checked: write.
  const engine = state.engine;
  let temps: Float32Array | null = null;
  for (const e of expected) {
    const t = tensors.get(e.name)!;
    if (e.kind === 'tracked') {
      state.batchesTracked.set(e.key, Number(t.data[0]));
      continue;
    }
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
    if (e.kind === 'param') engine.write(state.param(e.key), data);
    else if (e.kind === 'buffer') engine.write(state.buffer(e.key), data);
    else {
      temps = Float32Array.from(data);
      if (options.temperatures) engine.write(options.temperatures, temps);
    }
  }
  return { format, temperatures: temps, loaded: expected.length };
}

/** The model's state (and temperatures, for CHH names) as a safetensors file. */
export async function saveSafetensors(
  model: ResnetUnet,
  state: ModelState,
  temperatures?: Tensor,
  metadata?: Readonly<Record<string, string>>,
): Promise<Uint8Array> {
  return serializeSafetensors(await stateDict(model, state, temperatures), { format: 'pt', ...metadata });
}

/** Parses a safetensors file and loads it into the model (see loadStateDict); every check runs before any write. */
export function loadSafetensors(model: ResnetUnet, state: ModelState, bytes: Uint8Array | ArrayBuffer, options: LoadOptions = {}): LoadResult {
  return loadStateDict(model, state, parseSafetensors(bytes).tensors, options);
}
