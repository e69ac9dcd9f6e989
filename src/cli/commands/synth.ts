// chh synth: a synthetic cephalometric set in the ISBI 2015 layout, written to a folder.
import { resolve } from 'node:path';
import { SYNTHETIC } from '../../chh/config.ts';
import { writeSyntheticIsbi } from '../../node/files.ts';
import { ProgressBar } from '../../node/progress.ts';
import { command } from '../command.ts';
import { opt } from '../options.ts';
import { required } from '../shared.ts';

export const synth = command({
  summary: 'write a synthetic cephalometric set in the ISBI 2015 layout',
  usage: 'chh synth --out DIR [--train N] [--test1 N] [--test2 N] [--width PX] [--landmarks L] [--seed S]',
  options: {
    out: opt.string('folder to write (RawImage/, AnnotationsByMD/, chh-dataset.json)'),
    train: opt.intFrom(SYNTHETIC.train),
    test1: opt.intFrom(SYNTHETIC.test1),
    test2: opt.intFrom(SYNTHETIC.test2),
    width: opt.intFrom(SYNTHETIC.width),
    landmarks: opt.intFrom(SYNTHETIC.landmarks),
    seed: opt.intFrom(SYNTHETIC.seed, 0),
  },
  async run(v) {
    const out = required('out', v.out);
    const counts = { train: v.train, test1: v.test1, test2: v.test2 };
    const t0 = performance.now();
    // On stderr: stdout keeps the one result line (scripts read it).
    const bar = new ProgressBar(counts.train + counts.test1 + counts.test2, 'synth', process.stderr);
    const summary = await writeSyntheticIsbi(out, { counts, width: v.width, landmarks: v.landmarks, seed: v.seed, onProgress: (done) => bar.update(done) });
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(`wrote ${counts.train + counts.test1 + counts.test2} images of ${summary.width}x${summary.height} (${summary.pixelSizeMm.toFixed(4)} mm/pixel) to ${resolve(out)} in ${seconds} s`);
  },
});
