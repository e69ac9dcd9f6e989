// Activations saved for backward (PyTorch's saved-tensor hooks, as a policy instead of hooks). An op never keeps a
// forward tensor in its backward closure: it saves it, and the engine's memory policy decides how it is kept:
//   f32 (default)   a reference: the tensor is held (Tensor.hold), so the model may dispose it at its last use in
//                   the forward pass and the buffer lives on only as long as a backward needs it;
//   f16             packed as f16 pairs in u32 words (pack_f16.wgsl, core WGSL, every adapter): half the bytes, the
//                   f32 tensor freed at its last forward use; backward unpacks it, or reads the pairs directly
//                   where its kernel can (useStored: batchnorm's backward and recomputation); f32 arithmetic;
//   recompute       a tensor whose op declared a recipe (BN+ReLU, upsample-concat: cheap elementwise work) is
//                   not kept at all: backward runs the recipe again from what the recipe's op saved itself.
// Saving the same tensor twice shares one copy. Each SavedTensor is one tape node's hold (freed with the node).
// Storage alone passes no gradient through f16 (activations are rounded once); the conv GEMMs' f16 operands do,
// which is why training in f16 scales the loss (src/chh/precision.ts, src/nn/loss-scale.ts).
import { Engine } from '../engine/engine.ts';
import type { SavedActivation } from '../engine/tape.ts';
import { shapeString, type Shape, type Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';

/** How the activations a training step keeps for backward are stored. */
export type ActivationStorage = 'f32' | 'f16';
export const ACTIVATION_STORAGES: readonly ActivationStorage[] = ['f32', 'f16'];

export interface MemoryPolicy {
  storage: ActivationStorage;
  /** Recompute the cheap ops' outputs in backward instead of keeping them. */
  recompute: boolean;
}

/**
 * Recompute is on by default: it gives bit-identical gradients (the same kernels on the same inputs), 0.58x the
 * activation memory of keeping at 800x640 batch 4, and no measurable cost in a step (BENCHMARKS.md, "Memory").
 */
export const DEFAULT_MEMORY_POLICY: Readonly<MemoryPolicy> = { storage: 'f32', recompute: true };

const policies = new WeakMap<Engine, MemoryPolicy>();

/** The engine's memory policy (a mutable object: set its fields before a step; one per engine). */
export function memoryPolicy(engine: Engine): MemoryPolicy {
  let p = policies.get(engine);
  if (!p) policies.set(engine, (p = { ...DEFAULT_MEMORY_POLICY }));
  return p;
}

/** Where a saved activation's values live; shared by every SavedTensor of the same tensor. */
interface Store {
  refs: number;
  /** The values as an f32 tensor of the saved shape, and close() for when the caller is done with it. */
  open(): OpenValues;
  /** The f16 pairs, where the store packed them. */
  packed?: Tensor;
  release(): void;
}

interface OpenValues {
  tensor: Tensor;
  /** Made for this read (unpacked or recomputed), so the store's own buffers may go while it is in use. */
  transient: boolean;
  close(): void;
}

/** Saved values as a kernel reads them: an f32 tensor, or (packed) f16 pairs in u32 words (pack_f16.wgsl). */
export interface StoredValues {
  tensor: Tensor;
  packed: boolean;
}

/** Computes a tensor again from saved inputs (registered by its op, run by a backward that needs it). */
type Recipe = () => Tensor;

const stores = new WeakMap<Tensor, Store>();
const recipes = new WeakMap<Tensor, Recipe>();

/** One tape node's hold on a saved activation. */
export class SavedTensor implements SavedActivation {
  /** held; letGo: useLast gave the hold up early (the node's free() then has nothing to do); freed. */
  private state: 'held' | 'letGo' | 'freed' = 'held';

  constructor(
    private readonly store: Store,
    readonly label: string,
  ) {}

  /**
   * Runs fn on the saved values as an f32 tensor: the tensor itself, or one unpacked or recomputed for fn and
   * disposed after it (work fn recorded that reads it runs before the buffer is reused).
   */
  use<T>(fn: (t: Tensor) => T): T {
    return this.read(fn, false);
  }

  /**
   * use() for the node's last read: the hold is given up as soon as the values are open, so where it was the last
   * hold the stored copy goes before fn allocates (f16 pairs, once unpacked) or right after fn (a kept tensor, which
   * fn reads itself), and what the rest of the backward allocates can reuse it.
   */
  useLast<T>(fn: (t: Tensor) => T): T {
    return this.read(fn, true);
  }

  private read<T>(fn: (t: Tensor) => T, last: boolean): T {
    if (this.state !== 'held') throw new Error(`saved activation "${this.label}" was used after its tape node let it go`);
    const values = this.store.open();
    if (last && values.transient) this.letGo();
    try {
      return fn(values.tensor);
    } finally {
      values.close();
      if (last && this.state === 'held') this.letGo();
    }
  }

  /**
   * Runs fn on the values as they are stored: the f16 pairs themselves where the policy packed them (for a kernel
   * that reads them directly, with no unpacked copy), else as use() gives them. With `last`, as useLast: the hold is
   * given up after fn (the pairs, which fn reads) or as soon as the values are open (an unpacked or recomputed copy).
   */
  useStored<T>(fn: (v: StoredValues) => T, last = false): T {
    const packed = this.store.packed;
    if (!packed || this.state !== 'held') return this.read((tensor) => fn({ tensor, packed: false }), last);
    try {
      return fn({ tensor: packed, packed: true });
    } finally {
      if (last) this.letGo();
    }
  }

  /**
   * The f16 pairs where the policy packed the values, else null: for a forward that reads them in place of the
   * tensor itself (conv2d's `consume`), so the f32 tensor can go first. Never unpacks or recomputes.
   */
  get pairs(): Tensor | null {
    return this.state === 'held' ? (this.store.packed ?? null) : null;
  }

  free(): void {
    if (this.state === 'freed') throw new Error(`saved activation "${this.label}" freed twice`);
    const held = this.state === 'held';
    this.state = 'freed';
    if (held) this.drop();
  }

  private letGo(): void {
    this.state = 'letGo';
    this.drop();
  }

  private drop(): void {
    if (--this.store.refs === 0) this.store.release();
  }
}

/** Runs fn on every saved activation at once (a backward that reads several). */
function useAll<T>(saved: readonly SavedTensor[], fn: (ts: Tensor[]) => T, done: Tensor[] = []): T {
  if (done.length === saved.length) return fn(done);
  return saved[done.length].use((t) => useAll(saved, fn, [...done, t]));
}

function keptStore(t: Tensor): Store {
  const owner = t.base ?? t;
  owner.hold();
  return { refs: 0, open: () => ({ tensor: t, transient: false, close: () => {} }), release: () => owner.unhold() };
}

/** A tensor made for one read, disposed when it closes. */
function transient(t: Tensor): OpenValues {
  return { tensor: t, transient: true, close: () => t.dispose() };
}

/** Records packing t into f16 pairs; the words live until the last SavedTensor of t is freed. */
function packedStore(t: Tensor): Store {
  const words = packF16(t);
  return { refs: 0, packed: words, open: () => transient(unpackF16(words, t.shape, `${t.label}.unpacked`)), release: () => words.dispose() };
}

function recomputedStore(recompute: Recipe): Store {
  return { refs: 0, open: () => transient(recompute()), release: () => {} };
}

/** t's values as f16 pairs in ceil(n / 2) u32 words (held in an i32 tensor), clamped to +-65504. */
export function packF16(t: Tensor): Tensor {
  const e = Engine.of(t);
  const words = e.empty([Math.ceil(t.size / 2)], { dtype: 'i32', label: `${t.label}.f16x2` });
  const pack = e.kernel({ shader: SHADERS.pack_f16, entry: 'pack', bindings: ['x', 'packed', 'params'] });
  e.run(pack, { x: t, packed: words, params: { n: t.size } }, e.grid1d(words.size, pack));
  return words;
}

/** An f32 tensor of `shape` from f16 pairs (the inverse of the pack, up to f16 rounding). */
export function unpackF16(words: Tensor, shape: Shape, label: string): Tensor {
  const e = Engine.of(words);
  const out = e.empty(shape, { label });
  if (words.size !== Math.ceil(out.size / 2)) throw new Error(`unpackF16: ${words.size} words cannot hold ${shapeString(shape)}`);
  const unpack = e.kernel({ shader: SHADERS.pack_f16, entry: 'unpack', bindings: ['words', 'out', 'params'] });
  e.run(unpack, { words, out, params: { n: out.size } }, e.grid1d(words.size, unpack));
  return out;
}

/**
 * Saves t for a backward closure under the engine's memory policy; the caller puts the result in its tape node's
 * saved list. Tensors that need no gradient (the input images) are kept by reference: their owner keeps them anyway.
 */
export function save(t: Tensor): SavedTensor {
  const e = Engine.of(t);
  let store = stores.get(t);
  if (!store || store.refs === 0) {
    const policy = memoryPolicy(e);
    const recipe = policy.recompute ? recipes.get(t) : undefined;
    store = recipe ? recomputedStore(recipe) : policy.storage === 'f16' && t.requiresGrad ? packedStore(t) : keptStore(t);
    stores.set(t, store);
  }
  store.refs++;
  return new SavedTensor(store, t.label);
}

/**
 * Declares how to compute t again (under the recompute policy): from `inputs`, saved by t's op and held by its tape
 * node, which outlives every consumer of t in backward (consumers come later on the tape, so their closures run
 * first). The recipe must give the same values as the forward did (the same kernels on the same inputs); the
 * parameters it reads are unchanged until the optimizer step, which follows the backward.
 */
export function recomputable(t: Tensor, inputs: readonly SavedTensor[], run: (inputs: readonly Tensor[]) => Tensor): void {
  if (memoryPolicy(Engine.of(t)).recompute) recipes.set(t, () => useAll(inputs, run));
}

/**
 * recomputable for an op whose kernel reads its one saved input as it is stored (useStored: f32, or the f16
 * pairs, with no unpacked copy while it recomputes).
 */
export function recomputableFromStored(t: Tensor, input: SavedTensor, run: (input: StoredValues) => Tensor): void {
  if (memoryPolicy(Engine.of(t)).recompute) recipes.set(t, () => input.useStored(run));
}
