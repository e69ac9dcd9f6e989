// GPU time of spans of recorded work, from timestamp queries (the optional `timestamp-query` feature).
//
// WebGPU writes timestamps only at the beginning or end of a pass, so a span is bracketed by two empty compute
// passes: the first writes its end timestamp, the second its beginning timestamp, and everything recorded in
// between (any number of dispatches, passes, copies, even submits) lies within. The difference is GPU time, free of
// the submit and wait that a wall clock around engine.sync() includes. Browsers may quantise timestamps (Chrome:
// 100 us without its developer features; Dawn in Node here runs with the quantisation off), so time spans of
// milliseconds, not single tiny dispatches.
//
//   const timer = new GpuTimer(engine);
//   const span = timer.time(() => { for (let i = 0; i < 8; i++) conv2d(x, w, null); });
//   const ms = (await timer.read())[span] / 8;
import type { Engine } from './engine.ts';

export class GpuTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolve: GPUBuffer;
  private readonly readback: GPUBuffer;
  private spans = 0;

  /** Whether the engine's device has timestamp queries. */
  static supported(engine: Engine): boolean {
    return engine.features.has('timestamp-query');
  }

  /** capacity: spans between two read()s. */
  constructor(
    private readonly engine: Engine,
    readonly capacity = 128,
  ) {
    if (!GpuTimer.supported(engine)) {
      throw new Error('GpuTimer: this device has no timestamp-query feature (the adapter does not offer it); time with engine.sync() and a wall clock instead');
    }
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 2048) throw new Error(`GpuTimer: capacity must be an integer in 1..2048, got ${capacity}`);
    const device = engine.device;
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * capacity, label: 'GpuTimer' });
    this.resolve = device.createBuffer({ size: 16 * capacity, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'GpuTimer.resolve' });
    this.readback = device.createBuffer({ size: 16 * capacity, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'GpuTimer.readback' });
  }

  /** Records fn's GPU work between two timestamps; returns the span's index into read()'s result. */
  time(fn: () => void): number {
    if (this.spans >= this.capacity) throw new Error(`GpuTimer: all ${this.capacity} spans are used; read() the results first`);
    const span = this.spans++;
    this.engine.encode((enc) => enc.beginComputePass({ label: 'GpuTimer.start', timestampWrites: { querySet: this.querySet, endOfPassWriteIndex: 2 * span } }).end());
    try {
      fn();
    } finally {
      // Closed even when fn throws, so the query set never holds a span without its end.
      this.engine.encode((enc) => enc.beginComputePass({ label: 'GpuTimer.end', timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * span + 1 } }).end());
    }
    return span;
  }

  /** Milliseconds of every span recorded since the last read(), in order; frees the spans for reuse. */
  async read(): Promise<number[]> {
    const n = this.spans;
    if (n === 0) return [];
    this.engine.encode((enc) => {
      enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolve, 0);
      enc.copyBufferToBuffer(this.resolve, 0, this.readback, 0, 16 * n);
    });
    await this.engine.sync();
    await this.readback.mapAsync(GPUMapMode.READ, 0, 16 * n);
    const ticks = new BigInt64Array(this.readback.getMappedRange(0, 16 * n).slice(0));
    this.readback.unmap();
    this.spans = 0;
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6);
    return out;
  }

  dispose(): void {
    this.querySet.destroy();
    this.resolve.destroy();
    this.readback.destroy();
  }
}
