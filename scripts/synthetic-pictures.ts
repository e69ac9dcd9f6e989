// The README's pictures of the synthetic cephalograms (docs/synthetic.md): a few whole images of the default set
// with both annotators' clicks, and close-ups of what each effect imitates. Deterministic: the same files every run.
//   npx tsx scripts/synthetic-pictures.ts [OUTDIR]   (default docs/images)
import { deflateSync } from 'node:zlib';
import { join } from 'node:path';
import { generateSyntheticCase } from '../src/data/synthetic/dataset.ts';
import type { SyntheticCase } from '../src/data/synthetic/dataset.ts';
import { encodePng } from '../src/io/png.ts';
import { writeFileAtomic } from '../src/node/atomic.ts';

const SEED = 0;
const SEARCH = 300;
const WHOLE_WIDTH = 300;
const CLOSE_WIDTH = 968;
/** Close-ups are CROP x CROP pixels of a CLOSE_WIDTH-wide image (0.2 mm pixels: 36 mm square). */
const CROP = 180;

type Rgb = [number, number, number];
const RED: Rgb = [255, 70, 70];
const BLUE: Rgb = [80, 170, 255];

/** An RGB canvas of gray images placed side by side. */
class Canvas {
  readonly pixels: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint8Array(width * height * 3).fill(255);
  }
  /** Copies the w x h window of c at (x0, y0) to (at, 0). */
  paste(c: SyntheticCase, x0: number, y0: number, w: number, h: number, at: number): void {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const sx = Math.min(c.width - 1, Math.max(0, x0 + x));
        const sy = Math.min(c.height - 1, Math.max(0, y0 + y));
        const v = c.pixels[sy * c.width + sx];
        this.pixels.fill(v, ((y * this.width) + at + x) * 3, ((y * this.width) + at + x) * 3 + 3);
      }
    }
  }
  cross(x: number, y: number, rgb: Rgb): void {
    for (let d = -2; d <= 2; d++) {
      for (const [px, py] of [[Math.round(x) + d, Math.round(y)], [Math.round(x), Math.round(y) + d]]) {
        if (px < 0 || py < 0 || px >= this.width || py >= this.height) continue;
        this.pixels.set(rgb, (py * this.width + px) * 3);
      }
    }
  }
  async save(path: string): Promise<void> {
    await writeFileAtomic(path, encodePng({ width: this.width, height: this.height, channels: 3, pixels: this.pixels }, (raw) => deflateSync(raw, { level: 9 })));
    console.log(`wrote ${path}`);
  }
}

/** The first image of the default set that `pick` accepts (effects do not depend on the width). */
function find(pick: (c: SyntheticCase) => boolean, skip: Set<number>): number {
  for (let i = 1; i <= SEARCH; i++) {
    if (!skip.has(i) && pick(generateSyntheticCase(SEED, i, { width: 64 }))) return i;
  }
  throw new Error('synthetic-pictures: no image of the default set has the effect asked for');
}

const landmark = (c: SyntheticCase, k: number): [number, number] => [c.truth[2 * k], c.truth[2 * k + 1]];
function centroid(c: SyntheticCase, curve: string): [number, number] {
  const p = c.curves.find((q) => q.name === curve)!.points;
  let x = 0;
  let y = 0;
  for (let i = 0; i < p.length; i += 2) {
    x += p[i];
    y += p[i + 1];
  }
  return [(2 * x) / p.length, (2 * y) / p.length];
}

/** Whole images: a clean one, then the hard ways (a poor image with burnt-out soft tissue; an open mouth with braces; collimated). */
async function wholeImages(out: string): Promise<number[]> {
  const used = new Set<number>();
  const picks: ((c: SyntheticCase) => boolean)[] = [
    (c) => c.effects.quality.haze < 0.1 && c.effects.quality.softTissue === 1 && !c.effects.quality.collimation && c.effects.shape.mouthOpen === 0,
    (c) => c.effects.quality.poor && (c.effects.quality.softTissue < 1),
    (c) => c.effects.shape.mouthOpen > (4 * Math.PI) / 180 && c.effects.occluders.braces,
    (c) => c.effects.quality.collimation !== null && c.effects.occluders.ruler && c.effects.occluders.label,
  ];
  const ids = picks.map((p) => {
    const id = find(p, used);
    used.add(id);
    return id;
  });
  const first = generateSyntheticCase(SEED, ids[0], { width: WHOLE_WIDTH });
  const canvas = new Canvas(ids.length * (WHOLE_WIDTH + 4) - 4, first.height);
  ids.forEach((id, n) => {
    const c = generateSyntheticCase(SEED, id, { width: WHOLE_WIDTH });
    const at = n * (WHOLE_WIDTH + 4);
    canvas.paste(c, 0, 0, c.width, c.height, at);
    for (let k = 0; k < c.truth.length / 2; k++) {
      canvas.cross(at + c.annotators[0][2 * k], c.annotators[0][2 * k + 1], RED);
      canvas.cross(at + c.annotators[1][2 * k], c.annotators[1][2 * k + 1], BLUE);
    }
  });
  await canvas.save(join(out, 'synthetic-images.png'));
  return ids;
}

/** Close-ups, in the order docs/synthetic.md describes them. */
async function closeUps(out: string): Promise<number[]> {
  const deg = Math.PI / 180;
  const shots: { shows: string; imitates: string; pick: (c: SyntheticCase) => boolean; at: (c: SyntheticCase) => [number, number] }[] = [
    { shows: "the mandible's two lower borders at gonion", imitates: 'the far side of the jaw, projected larger and shifted when the head is turned in the cephalostat', pick: (c) => Math.abs(c.effects.yawDeg) > 1.8, at: (c) => landmark(c, 9) },
    { shows: 'two ear rods', imitates: "the cephalostat's ear rods, apart when the head is turned and rolled", pick: (c) => Math.abs(c.effects.yawDeg) > 1.5 && Math.abs(c.effects.rollDeg) > 0.8, at: (c) => landmark(c, 3) },
    { shows: 'brackets, molar bands and the arch wire', imitates: 'orthodontic appliances: bright metal beside the incisal tips', pick: (c) => c.effects.occluders.braces && c.effects.shape.mouthOpen === 0, at: (c) => landmark(c, 11) },
    { shows: 'a filling', imitates: 'amalgam fillings that saturate the molars', pick: (c) => c.effects.occluders.fillings, at: (c) => centroid(c, 'upperMolar1') },
    { shows: 'the ruler in front of the forehead', imitates: "the nasion relator's scale", pick: (c) => c.effects.occluders.ruler, at: (c) => [landmark(c, 1)[0] + 0.04 * c.width, landmark(c, 1)[1]] },
    { shows: 'burnt-out lips', imitates: 'soft tissue overexposed towards the darkness of air: lips and chin barely visible', pick: (c) => c.effects.quality.softTissue < 0.5, at: (c) => landmark(c, 12) },
    { shows: 'a faint orbit in a poor image', imitates: 'thin cortices (orbit floor, maxilla) that vanish under blur, scatter and noise', pick: (c) => c.effects.quality.poor, at: (c) => landmark(c, 2) },
    { shows: 'an open mouth', imitates: 'patients imaged with the teeth apart: the chin and lower lip turned with the jaw', pick: (c) => c.effects.shape.mouthOpen > 4 * deg, at: (c) => landmark(c, 10) },
  ];
  const used = new Set<number>();
  const canvas = new Canvas(shots.length * (CROP + 4) - 4, CROP);
  const ids: number[] = [];
  shots.forEach((s, n) => {
    const id = find(s.pick, used);
    used.add(id);
    ids.push(id);
    const c = generateSyntheticCase(SEED, id, { width: CLOSE_WIDTH });
    const [x, y] = s.at(c);
    canvas.paste(c, Math.round(x - CROP / 2), Math.round(y - CROP / 2), CROP, CROP, n * (CROP + 4));
  });
  await canvas.save(join(out, 'synthetic-effects.png'));
  console.log(['| close-up | imitates |', '| --- | --- |', ...shots.map((s, n) => `| ${s.shows} (image ${ids[n]}) | ${s.imitates} |`)].join('\n'));
  return ids;
}

const out = process.argv[2] ?? 'docs/images';
const whole = await wholeImages(out);
console.log(`whole images of seed ${SEED}: ${whole.join(', ')} (${WHOLE_WIDTH} px wide)`);
await closeUps(out);
