// GPU buffers are slow to create and a training step makes hundreds of same-sized activations each time,
// so released buffers go back to a free list keyed by size class and are handed out again.
// Size classes are quarter steps between powers of two (1, 1.25, 1.5, 1.75 x 2^k), so no buffer wastes
// more than 25% while sizes that differ slightly still share a class.

export interface MemoryStats {
  /** Bytes in buffers held by live tensors (counted by the size class actually allocated). */
  liveBytes: number;
  /** Highest liveBytes seen since creation or the last resetPeak(). */
  peakLiveBytes: number;
  /** Bytes in free buffers kept for reuse. */
  pooledBytes: number;
  /** All bytes of GPU memory this pool holds: live + pooled. */
  allocatedBytes: number;
  peakAllocatedBytes: number;
  liveBuffers: number;
  /** GPU buffers ever created by the pool (reuse keeps this flat across training steps). */
  createdBuffers: number;
}

export function sizeClass(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  const p = 2 ** Math.floor(Math.log2(bytes));
  for (const f of [1, 1.25, 1.5, 1.75, 2]) {
    const c = Math.ceil((p * f) / 16) * 16;
    if (c >= bytes) return c;
  }
  return 2 * p;
}

/** Bytes live under one owner (a layer, else a tensor label) at the peak. */
export interface Holder {
  owner: string;
  bytes: number;
}

/** The buffer whose allocation reached the peak: where in the step the peak is. */
export interface PeakAllocation {
  label: string;
  owner: string;
  bytes: number;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly live = new Set<GPUBuffer>();
  /** While owners are tracked (trackOwners): each live buffer's owner, live bytes per owner, and those at the peak. */
  private owners: Map<GPUBuffer, string> | null = null;
  private readonly byOwner = new Map<string, number>();
  private byOwnerAtPeak = new Map<string, number>();
  private peakAt: PeakAllocation | null = null;
  private stats: MemoryStats = {
    liveBytes: 0,
    peakLiveBytes: 0,
    pooledBytes: 0,
    allocatedBytes: 0,
    peakAllocatedBytes: 0,
    liveBuffers: 0,
    createdBuffers: 0,
  };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
  ) {}

  acquire(bytes: number, label: string, owner = label): GPUBuffer {
    const size = sizeClass(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(
        `${label}: needs a ${fmtBytes(bytes)} buffer but this adapter allows at most ${fmtBytes(this.maxBufferSize)} ` +
          `(maxBufferSize). Use a smaller batch or image size.`,
      );
    }
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.pooledBytes -= size;
    } else {
      buffer = this.device.createBuffer({
        size,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        label,
      });
      this.stats.createdBuffers++;
      this.stats.allocatedBytes += size;
      this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    }
    this.live.add(buffer);
    this.stats.liveBuffers++;
    this.stats.liveBytes += size;
    if (this.owners) {
      this.owners.set(buffer, owner);
      this.byOwner.set(owner, (this.byOwner.get(owner) ?? 0) + size);
    }
    if (this.stats.liveBytes > this.stats.peakLiveBytes) {
      this.stats.peakLiveBytes = this.stats.liveBytes;
      if (this.owners) {
        this.byOwnerAtPeak = new Map(this.byOwner);
        this.peakAt = { label, owner, bytes: size };
      }
    }
    return buffer;
  }

  /**
   * Counts live bytes per owner from now on, so that holders() can say who held the memory at the peak (the
   * benchmark's per-layer report; a copy of ~100 counters at each new peak, so off by default).
   */
  trackOwners(): void {
    this.owners ??= new Map();
  }

  /** Who held the live bytes at the peak since resetPeak() (buffers acquired while tracking), largest first. */
  holders(): Holder[] {
    return [...this.byOwnerAtPeak].map(([owner, bytes]) => ({ owner, bytes })).filter((h) => h.bytes > 0).sort((a, b) => b.bytes - a.bytes);
  }

  /** While owners are tracked: the allocation that reached the peak since resetPeak(); null if none did. */
  peakAllocation(): PeakAllocation | null {
    return this.peakAt && { ...this.peakAt };
  }

  release(buffer: GPUBuffer): void {
    if (!this.live.delete(buffer)) throw new Error(`BufferPool.release: buffer "${buffer.label}" is not live (released twice?)`);
    const size = buffer.size;
    const owner = this.owners?.get(buffer);
    if (owner !== undefined) {
      this.owners!.delete(buffer);
      this.byOwner.set(owner, this.byOwner.get(owner)! - size);
    }
    this.stats.liveBuffers--;
    this.stats.liveBytes -= size;
    this.stats.pooledBytes += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
  }

  /** Destroys the free buffers. Only call when no recorded-but-unsubmitted work may use them. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.stats.allocatedBytes -= this.stats.pooledBytes;
    this.stats.pooledBytes = 0;
    this.free.clear();
  }

  resetPeak(): void {
    this.stats.peakLiveBytes = this.stats.liveBytes;
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
    this.byOwnerAtPeak = new Map(this.byOwner);
    this.peakAt = null;
  }

  memory(): MemoryStats {
    return { ...this.stats };
  }

  destroy(): void {
    this.trim();
    for (const b of this.live) b.destroy();
    this.live.clear();
  }
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
