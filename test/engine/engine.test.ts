// Engine core: tensors, memory accounting, scopes, the tape, kernel loading checks, clear errors on bad input.
import { describe, expect, it } from 'vitest';
import { add, mul, relu, sum, backward, sizeClass, Engine } from '../../src/index.ts';
import { SHADERS } from '../../src/generated/shaders.ts';
import { reflectKernel } from '../../src/engine/kernel.ts';
import { useEngine } from '../helpers/gpu.ts';
import { createNodeEngine } from '../../src/node/gpu.ts';
import { full, fill } from '../../src/ops/fill.ts';

const engine = useEngine();

describe('tensors', () => {
  it('round-trips f32 and i32 data', async () => {
    const e = engine();
    const f = e.tensor(new Float32Array([1.5, -2, 3e-8]), [3]);
    const i = e.tensor(new Int32Array([-7, 0, 2 ** 30]), [3]);
    expect(Array.from(await f.read())).toEqual([1.5, -2, Math.fround(3e-8)]);
    expect(await i.read()).toBeInstanceOf(Int32Array);
    expect(Array.from(await i.read())).toEqual([-7, 0, 2 ** 30]);
    const z = full(e, [2, 3], -1.25);
    expect(Array.from(await z.read())).toEqual([-1.25, -1.25, -1.25, -1.25, -1.25, -1.25]);
    const zi = full(e, [5], 42, { dtype: 'i32' });
    expect(Array.from(await zi.read())).toEqual([42, 42, 42, 42, 42]);
    for (const t of [f, i, z, zi]) t.dispose();
  });

  it('refuses a tensor above the binding limit before allocating it, naming the layer, the bytes and the limit', () => {
    const e = engine();
    const { maxBufferSize, minStorageBufferOffsetAlignment, maxComputeWorkgroupsPerDimension } = e.limits;
    const limits = { maxBufferSize, minStorageBufferOffsetAlignment, maxComputeWorkgroupsPerDimension, maxStorageBufferBindingSize: 4096 } as GPUSupportedLimits;
    const small = new Engine(e.device, e.adapter, e.features, limits);
    const before = e.memory().liveBuffers;
    expect(() => small.inLayer('decoder.blocks.4.conv2.0', () => small.empty([2048], { label: 'conv2d' }))).toThrow(
      'conv2d in layer decoder.blocks.4.conv2.0: [2048] needs 8192 bytes, above this adapter\'s maxStorageBufferBindingSize 4096',
    );
    expect(small.memory().liveBuffers).toBe(0);
    expect(e.memory().liveBuffers).toBe(before);
  });

  it('rejects bad shapes, bad data and wrong dtypes with clear errors', () => {
    const e = engine();
    expect(() => e.tensor([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2,2\]/);
    expect(() => e.zeros([2, 0])).toThrow(/positive integers/);
    expect(() => e.zeros([2.5])).toThrow(/positive integers/);
    expect(() => e.tensor(new Float64Array(2) as unknown as Float32Array, [2])).toThrow(/Float64Array/);
    expect(() => e.tensor(new Int32Array(2), [2], { dtype: 'f32' })).toThrow(/dtype f32 was asked for but the data is i32/);
    const idx = e.tensor(new Int32Array([1, 2]), [2], { label: 'indices' });
    const x = e.tensor([1, 2], [2]);
    expect(() => add(x, idx)).toThrow(/add: b \("indices"\) has dtype i32, expected f32/);
    const y = e.tensor([1, 2, 3], [3], { label: 'y' });
    expect(() => mul(x, y)).toThrow(/mul: shape mismatch.*\[2\].*"y" is \[3\]/);
    for (const t of [idx, x, y]) t.dispose();
  });

  it('a disposed tensor cannot be used again', async () => {
    const e = engine();
    const x = e.tensor([1, 2], [2], { label: 'gone' });
    x.dispose();
    x.dispose(); // harmless
    expect(() => relu(x)).toThrow(/relu: x \("gone" \[2\]\) was disposed/);
    await expect(x.read()).rejects.toThrow(/disposed/);
  });

  it('views share memory and respect the storage offset alignment', async () => {
    const e = engine();
    const { flat, views } = e.flatTensors([[3], [2, 2]], 'flat');
    expect(views[1].byteOffset % e.limits.minStorageBufferOffsetAlignment).toBe(0);
    e.write(views[1], new Float32Array([1, 2, 3, 4]));
    fill(views[0], 7);
    const all = await flat.read();
    expect(Array.from(all.slice(0, 3))).toEqual([7, 7, 7]);
    expect(Array.from(await views[1].read())).toEqual([1, 2, 3, 4]);
    expect(() => flat.view(1, [2])).toThrow(/alignment/);
    // Zero fills go through clearBuffer: only the view's bytes are cleared, in order with the other GPU work.
    fill(views[1], 0);
    e.write(views[0], new Float32Array([5, 6, 7]));
    const after = await flat.read();
    expect(Array.from(after.slice(0, 3))).toEqual([5, 6, 7]);
    expect(Array.from(await views[1].read())).toEqual([0, 0, 0, 0]);
    const ints = e.tensor(new Int32Array([3, 4, 5]), [3], { dtype: 'i32' });
    fill(ints, 0);
    expect(Array.from(await ints.read())).toEqual([0, 0, 0]);
    flat.dispose();
    expect(() => views[1].buffer).toThrow(/disposed/);
  });
});

describe('buffer pool', () => {
  it('size classes waste at most 25%', () => {
    for (const n of [1, 255, 257, 1000, 4097, 123_457, 10_000_019]) {
      const c = sizeClass(n);
      expect(c).toBeGreaterThanOrEqual(n);
      expect(c).toBeLessThanOrEqual(Math.max(256, n * 1.25 + 16));
    }
  });

  it('reuses buffers, and live bytes return to where they were after a scope', async () => {
    const e = engine();
    const x = e.tensor(new Float32Array(10_000).fill(1), [10_000], { requiresGrad: true });
    const before = e.memory();
    const step = () =>
      e.scope(() => {
        const l = sum(relu(mul(x, x)));
        backward(l);
      });
    step();
    await e.sync();
    const afterOne = e.memory();
    for (let i = 0; i < 5; i++) step();
    await e.sync();
    const afterSix = e.memory();
    // The first step allocates x.grad; after that, nothing new stays live and no new buffers are created.
    expect(afterOne.liveBytes - before.liveBytes).toBe(sizeClass(40_000));
    expect(afterSix.liveBytes).toBe(afterOne.liveBytes);
    expect(afterSix.createdBuffers).toBe(afterOne.createdBuffers);
    expect(afterSix.peakLiveBytes).toBeGreaterThan(afterSix.liveBytes);
    x.grad!.dispose();
    x.dispose();
  });

  it('names the allocation that reached the peak, and who held what then', () => {
    const e = engine();
    e.pool.trackOwners();
    e.pool.resetPeak();
    expect(e.pool.peakAllocation()).toBeNull();
    const a = e.empty([1000], { label: 'a' });
    const b = e.inLayer('big', () => e.empty([4000], { label: 'b' }));
    b.dispose();
    const c = e.empty([2000], { label: 'c' }); // below the peak a + b reached
    expect(e.pool.peakAllocation()).toEqual({ label: 'b in layer big', owner: 'big', bytes: sizeClass(16_000) });
    expect(e.pool.holders().map((h) => h.owner)).toEqual(['big', 'a']);
    e.pool.resetPeak();
    expect(e.pool.peakAllocation()).toBeNull();
    a.dispose();
    c.dispose();
  });
});

describe('autograd', () => {
  it('noGrad records nothing', () => {
    const e = engine();
    const x = e.tensor([1, 2], [2], { requiresGrad: true });
    const y = e.noGrad(() => relu(x));
    expect(y.requiresGrad).toBe(false);
    expect(e.tape.length).toBe(0);
    expect(() => backward(sum(y))).toThrow(/no recorded graph/);
    x.dispose();
    y.dispose();
  });

  it('backward after the scope ended says so', () => {
    const e = engine();
    const x = e.tensor([1, 2], [2], { requiresGrad: true });
    const l = e.scope(() => sum(relu(x)));
    expect(() => backward(l)).toThrow(/scope that computed it has ended/);
    x.dispose();
    l.dispose();
  });

  it('rejects a non-scalar loss', () => {
    const e = engine();
    const x = e.tensor([1, 2], [2], { requiresGrad: true });
    e.scope(() => expect(() => backward(relu(x))).toThrow(/loss must have one element/));
    x.dispose();
  });
});

describe('kernel loading', () => {
  it('a binding the TypeScript side does not provide is an error at load, naming kernel and binding', () => {
    expect(() => reflectKernel({ shader: SHADERS.relu, entry: 'forward', bindings: ['x', 'params'] })).toThrow(
      /kernel relu.forward: the WGSL uses binding "y"/,
    );
    expect(() => reflectKernel({ shader: SHADERS.relu, entry: 'forward', bindings: ['x', 'y', 'params', 'dx'] })).toThrow(
      /kernel relu.forward: the TypeScript side provides binding "dx" that the WGSL entry point does not use/,
    );
    expect(() => reflectKernel({ shader: SHADERS.relu, entry: 'nope', bindings: [] })).toThrow(/no compute entry point "nope"/);
  });

  it('a missing binding or uniform value at dispatch is a clear error', () => {
    const e = engine();
    const k = e.kernel({ shader: SHADERS.relu, entry: 'forward', bindings: ['x', 'y', 'params'] });
    const x = e.tensor([1], [1]);
    expect(() => e.run(k, { x, params: { n: 1 } }, [1, 1, 1])).toThrow(/relu.forward: binding "y" is missing/);
    expect(() => e.run(k, { x, y: x, params: {} }, [1, 1, 1])).toThrow(/uniform params.n was not given a value/);
    expect(() => e.run(k, { x, y: x, params: { n: 1, m: 2 } }, [1, 1, 1])).toThrow(/has no member "m"/);
    expect(() => e.run(k, { x, y: x, params: { n: -1 } }, [1, 1, 1])).toThrow(/u32 but got -1/);
    x.dispose();
  });
});

describe('GPU failures surface as errors', () => {
  it('a lost device makes the next op throw, naming it', async () => {
    const e = await createNodeEngine();
    const x = e.tensor([1, 2], [2]);
    e.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await e.device.lost;
    expect(() => relu(x)).toThrow(/relu: cannot run, an earlier GPU failure: WebGPU device lost/);
    e.destroy();
  });
});
