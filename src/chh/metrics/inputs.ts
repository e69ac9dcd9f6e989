// What the metrics take (points, pixel sizes) and the checks every metric runs on it: a RangeError naming the
// function and the argument for NaN or Infinity, empty inputs where a value is needed, and length mismatches.
/** A point [x, y] in pixels. */
export type Point = ArrayLike<number>;
/**
 * Pixel size in mm: one number for every landmark (isotropic), or one entry per landmark, each a number
 * (isotropic) or a pair [sx, sy]. A single pair for all landmarks is not accepted (it would be ambiguous with two
 * isotropic landmarks); repeat it per landmark.
 */
export type PixelSizeMm = number | ArrayLike<number | ArrayLike<number>>;

export function fail(fn: string, msg: string): never {
  throw new RangeError(`${fn}: ${msg}`);
}

export function checkFiniteArray(fn: string, name: string, a: ArrayLike<number>, opts: { nonEmpty?: boolean; min?: number; max?: number } = {}): void {
  if (a === null || typeof a !== 'object' || typeof a.length !== 'number') fail(fn, `${name} must be an array of numbers`);
  if (opts.nonEmpty !== false && a.length === 0) fail(fn, `${name} is empty`);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(fn, `${name}[${i}] is ${String(v)}, expected a finite number`);
    if (opts.min !== undefined && v < opts.min) fail(fn, `${name}[${i}] = ${v} is below ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) fail(fn, `${name}[${i}] = ${v} is above ${opts.max}`);
  }
}

export function checkSameLength(fn: string, names: string[], arrays: ArrayLike<unknown>[]): void {
  for (let i = 1; i < arrays.length; i++) {
    if (arrays[i].length !== arrays[0].length) {
      fail(fn, `length mismatch: ${names[0]} has ${arrays[0].length}, ${names[i]} has ${arrays[i].length}`);
    }
  }
}

export function checkFiniteScalar(fn: string, name: string, v: number, min?: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(fn, `${name} is ${String(v)}, expected a finite number`);
  if (min !== undefined && v < min) fail(fn, `${name} = ${v} is below ${min}`);
}

export function checkThresholds(fn: string, thresholds: ArrayLike<number>): void {
  checkFiniteArray(fn, 'thresholds', thresholds, { nonEmpty: false });
}

/** Pixel sizes as [sx, sy] per landmark (count = number of landmarks), validated (> 0, finite). */
export function pixelSizePairs(fn: string, pixelSizeMm: PixelSizeMm, count: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const one = (v: unknown, where: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(fn, `${where} is ${String(v)}, expected a finite number > 0`);
    return v;
  };
  if (typeof pixelSizeMm === 'number') {
    const s = one(pixelSizeMm, 'pixelSizeMm');
    for (let i = 0; i < count; i++) out.push([s, s]);
    return out;
  }
  if (pixelSizeMm === null || typeof pixelSizeMm !== 'object' || typeof pixelSizeMm.length !== 'number') {
    fail(fn, 'pixelSizeMm must be a number or an array with one entry per landmark');
  }
  if (pixelSizeMm.length !== count) {
    fail(fn, `length mismatch: pixelSizeMm has ${pixelSizeMm.length} entries for ${count} landmarks (a single size must be a number)`);
  }
  for (let i = 0; i < count; i++) {
    const e = pixelSizeMm[i];
    if (typeof e === 'number') {
      const s = one(e, `pixelSizeMm[${i}]`);
      out.push([s, s]);
    } else {
      if (e === null || typeof e !== 'object' || e.length !== 2) fail(fn, `pixelSizeMm[${i}] must be a number or a pair [sx, sy]`);
      out.push([one(e[0], `pixelSizeMm[${i}][0]`), one(e[1], `pixelSizeMm[${i}][1]`)]);
    }
  }
  return out;
}

export function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}
