// The one seeded generator of the project (mulberry32) and the seeds derived from a run's seed: weight init, data
// order, augmentation draws and the synthetic set are all functions of a seed, so runs repeat exactly and resume
// exactly. In the lowest layer because the weight init (nn) and the data both draw from it.

/** Uniform numbers in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed for (seed, epoch, stream) pairs: different streams (shuffle, augmentation) never share draws. */
export function mixSeed(seed: number, epoch: number, stream = 0): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul((epoch + 1) >>> 0, 0x85ebca6b) ^ Math.imul((stream + 7) >>> 0, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The seed of image `index` of a synthetic set made with `seed`. */
export function imageSeed(seed: number, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (index + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Uniform and Gaussian draws from mulberry32 (Box-Muller, the second value of each pair kept for the next call). */
export class Rng {
  private readonly next: () => number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  uniform(a = 0, b = 1): number {
    return a + (b - a) * this.next();
  }
  normal(std = 1): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s * std;
    }
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v) * std;
  }
}
