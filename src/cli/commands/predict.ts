// chh predict: the landmarks of one BMP with their ERE and an erroneous flag, as JSON, an overlay PNG, the logits.
import { resolve } from 'node:path';
import { loadModel, type LoadedModel } from '../../io/weights.ts';
import { serializeSafetensors } from '../../io/safetensors.ts';
import { PREDICTION } from '../../chh/config.ts';
import { predictBmp, type Prediction } from '../../chh/predict.ts';
import { overlayPng } from '../../report/overlay.ts';
import { compileStep } from '../../pipeline/steps.ts';
import { writeFileAtomic } from '../../node/atomic.ts';
import { command } from '../command.ts';
import { opt, UsageError } from '../options.ts';
import { usePrecision } from '../../chh/precision.ts';
import { checkFits, compress, createEngine, INFERENCE_PRECISION, warnIfF16Overflowed, outputFolder, readNamedFile, readWeights, required, sizeFor, SIZE_FROM_WEIGHTS_HELP } from '../shared.ts';
import { dirname } from 'node:path';

/** The prediction as the JSON the command writes (snake_case, pixels of the original image and mm). */
function predictionJson(image: string, p: Prediction & { original: { width: number; height: number } }, pixelMm: number, threshold: number) {
  const landmarks = p.landmarks.map((l) => ({
    index: l.index,
    name: l.name,
    x_px: l.x,
    y_px: l.y,
    x_mm: l.x * pixelMm,
    y_mm: l.y * pixelMm,
    ere_mm: l.ereMm,
    mode_probability: l.modeProbability,
    erroneous: l.erroneous,
  }));
  return { image, width: p.original.width, height: p.original.height, pixel_size_mm: pixelMm, ere_threshold_mm: threshold, landmarks };
}

/** The heatmaps and landmarks over the image the network saw (the points go back to its pixels). */
function overlayOf(p: Prediction): Uint8Array {
  const predicted = p.landmarks.flatMap((l) => [l.x * p.scale, l.y * p.scale]);
  const sample = { image: p.input.image, width: p.input.width, height: p.input.height, landmarks: new Float32Array(0) };
  return overlayPng(sample, p.heatmap, predicted, p.landmarks.map((l) => l.erroneous), { compress });
}

function logitsFile(image: string, loaded: LoadedModel, p: Prediction): Uint8Array {
  const shape = [1, loaded.config.landmarks, p.input.height, p.input.width];
  const meta = { image, temperatures: JSON.stringify(Array.from(loaded.temperatures)) };
  return serializeSafetensors(new Map([['logits', { dtype: 'F32', shape, data: p.logits! }]]), meta);
}

export const predictCommand = command({
  summary: 'landmarks of one image (BMP) with ERE and an erroneous flag, as JSON and an overlay PNG',
  usage: 'chh predict IMAGE.bmp --weights FILE [--size WxH] [--pixel-size MM] [--json FILE] [--overlay FILE.png] [--ere-threshold MM] [--save-logits FILE] [--precision f32|f16]',
  options: {
    weights: opt.string('weights (.safetensors); CHH names carry the temperatures'),
    size: opt.size(SIZE_FROM_WEIGHTS_HELP),
    'pixel-size': opt.numberFrom(PREDICTION.pixelSizeMm),
    json: opt.string('write the landmarks here (default: print to stdout)'),
    overlay: opt.string('write the heatmaps and landmarks over the image as PNG'),
    'ere-threshold': opt.numberFrom(PREDICTION.ereThresholdMm),
    'save-logits': opt.string('write the raw logit maps [1, L, H, W] as safetensors'),
    ...INFERENCE_PRECISION,
  },
  async run(v, positionals) {
    const image = positionals[0];
    if (!image) throw new UsageError('give the image to predict: chh predict IMAGE.bmp --weights FILE');
    const weights = required('weights', v.weights);
    const bytes = await readWeights(weights);
    const size = sizeFor(v.size, bytes, weights);
    const pixelMm = v['pixel-size'];
    const threshold = v['ere-threshold'];
    const bmp = await readNamedFile('the image', image);
    for (const file of [v.json, v.overlay, v['save-logits']]) if (file) await outputFolder(dirname(file));
    const engine = await createEngine();
    try {
      const loaded = loadModel(engine, bytes);
      checkFits(engine, loaded.config, size, 1);
      usePrecision(engine, v.precision);
      await compileStep(engine, loaded.model, loaded.state, { ...size, infer: [1] }, (e) => (e.kind === 'log' ? console.error(e.message) : undefined));
      const options = { temperatures: loaded.temperatures, pixelSizeMm: pixelMm, ereThresholdMm: threshold, heatmap: Boolean(v.overlay), logits: Boolean(v['save-logits']), imageName: image };
      const p = await predictBmp(engine, loaded.model, loaded.state, bmp, size, options);
      const json = JSON.stringify({ ...predictionJson(image, p, pixelMm, threshold), precision: v.precision }, null, 2);
      await warnIfF16Overflowed(engine, v.precision);
      if (v.json) await writeFileAtomic(v.json, json);
      else console.log(json);
      if (v.overlay) {
        await writeFileAtomic(v.overlay, overlayOf(p));
        console.error(`overlay: ${resolve(v.overlay)}`);
      }
      if (v['save-logits'] && p.logits) await writeFileAtomic(v['save-logits'], logitsFile(image, loaded, p));
      loaded.dispose();
    } finally {
      engine.destroy();
    }
  },
});
