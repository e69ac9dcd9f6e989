// The PNG encoder (src/io/png.ts) decoded independently with node:zlib (signature, chunk CRCs, inflated size,
// pixels), the overlays (src/report/overlay.ts overlayPng), and the HTML report (three plots, tables, numbers,
// embedded images, no network references, JSON round trip).
import { deflateSync, inflateSync, crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { IsbiSample } from '../../src/data/isbi.ts';
import { summarize } from '../../src/chh/metrics/summary.ts';
import type { CalibrateResult } from '../../src/chh/calibrate/calibrate.ts';
import type { EvaluationResult, ImageEvaluation } from '../../src/chh/evaluate.ts';
import { heatmapSnapshot, REFERENCE_CALIBRATION_BINS } from '../../src/chh/evaluate.ts';
import { adler32, base64, crc32, encodePng, encodePngAsync, pngDataUri, storedZlib, PNG_SIGNATURE } from '../../src/io/png.ts';
import { buildOverlays, inferno, overlayImage, overlayPng } from '../../src/report/overlay.ts';
import { renderReport } from '../../src/report/report.ts';

interface Chunk {
  type: string;
  data: Uint8Array;
  crcOk: boolean;
}

/** Splits a PNG into chunks, checking each CRC with node:zlib's crc32. */
function chunks(png: Uint8Array): Chunk[] {
  expect(Array.from(png.subarray(0, 8))).toEqual(Array.from(PNG_SIGNATURE));
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Chunk[] = [];
  let o = 8;
  while (o < png.length) {
    const len = view.getUint32(o);
    const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
    const data = png.subarray(o + 8, o + 8 + len);
    const crc = view.getUint32(o + 8 + len);
    out.push({ type, data, crcOk: crc === zlibCrc32(png.subarray(o + 4, o + 8 + len)) });
    o += 12 + len;
  }
  expect(o).toBe(png.length);
  return out;
}

/** Decodes an 8-bit non-interlaced PNG (filters 0 and 1 only, which is all encodePng writes). */
function decode(png: Uint8Array): { width: number; height: number; channels: number; pixels: Uint8Array } {
  const cs = chunks(png);
  expect(cs.every((c) => c.crcOk)).toBe(true);
  expect(cs.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  const ih = new DataView(cs[0].data.buffer, cs[0].data.byteOffset, 13);
  const width = ih.getUint32(0);
  const height = ih.getUint32(4);
  expect(cs[0].data[8]).toBe(8);
  const channels = { 0: 1, 2: 3, 6: 4 }[cs[0].data[9]] as number;
  const raw = new Uint8Array(inflateSync(cs[1].data));
  const stride = width * channels;
  expect(raw.length).toBe(height * (stride + 1));
  const pixels = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    expect([0, 1]).toContain(f);
    for (let i = 0; i < stride; i++) {
      const v = raw[y * (stride + 1) + 1 + i];
      pixels[y * stride + i] = f === 0 ? v : (v + (i >= channels ? pixels[y * stride + i - channels] : 0)) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

function sample(id: string, w: number, h: number, landmarks: number[]): IsbiSample {
  const image = new Float32Array(w * h);
  for (let i = 0; i < image.length; i++) image[i] = (i * 37) % 256;
  const lm = Float32Array.from(landmarks);
  return { id, split: 'test1', image, width: w, height: h, landmarks: lm, annotators: [lm], annotatorNames: ['a'], pixelSizeMm: [0.3, 0.3], scale: 1, originalSize: { width: w, height: h } };
}

describe('png', () => {
  it('writes a valid PNG (signature, CRCs, zlib stream of the right size) with stored blocks, deflateSync and CompressionStream', async () => {
    const w = 300;
    const h = 250; // > 65535 bytes of RGB: several stored blocks
    const pixels = new Uint8Array(w * h * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + (i >> 9)) & 0xff;
    const img = { width: w, height: h, channels: 3 as const, pixels };
    const stored = encodePng(img);
    const compressed = encodePng(img, (raw) => new Uint8Array(deflateSync(raw)));
    const streamed = await encodePngAsync(img);
    for (const png of [stored, compressed, streamed]) {
      const d = decode(png);
      expect([d.width, d.height, d.channels]).toEqual([w, h, 3]);
      expect(Buffer.from(d.pixels).equals(Buffer.from(pixels))).toBe(true);
    }
    expect(compressed.length).toBeLessThan(stored.length);
    const gray = decode(encodePng({ width: 3, height: 2, channels: 1, pixels: new Uint8Array([0, 1, 2, 3, 4, 255]) }));
    expect(Array.from(gray.pixels)).toEqual([0, 1, 2, 3, 4, 255]);
    expect(() => encodePng({ width: 2, height: 2, channels: 3, pixels: new Uint8Array(5) })).toThrow(/5 bytes for 2x2x3/);
  });

  it('checksums and base64 agree with node', () => {
    const bytes = new Uint8Array(100_000).map((_, i) => (i * 31) ^ (i >> 3));
    expect(crc32(bytes)).toBe(zlibCrc32(bytes));
    expect(Buffer.from(inflateSync(storedZlib(bytes))).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(inflateSync(storedZlib(new Uint8Array(0)))).length).toBe(0);
    // zlib's own stream carries the same Adler-32 in its last four bytes.
    const z = deflateSync(bytes);
    expect(adler32(bytes)).toBe(z.readUInt32BE(z.length - 4));
    for (const n of [0, 1, 2, 3, 10, 10_000]) expect(base64(bytes.subarray(0, n))).toBe(Buffer.from(bytes.subarray(0, n)).toString('base64'));
    expect(pngDataUri(new Uint8Array([1, 2, 3]))).toBe('data:image/png;base64,AQID');
  });
});

describe('overlays', () => {
  it('draws the heatmap, truth (green), predictions (red) and flags (yellow) at the right places', () => {
    const s = sample('001', 40, 30, [10.5, 10.5, 30.5, 20.5]);
    const logits = new Float32Array(2 * 40 * 30);
    logits[0 * 1200 + 10 * 40 + 10] = 20; // landmark 0 peaks at (10, 10)
    logits[1 * 1200 + 24 * 40 + 5] = 20; // landmark 1 peaks at (5, 24): wrong, flagged
    const map = heatmapSnapshot('001', logits, [1, 1], 40, 30, { maxSize: 20 });
    const predicted = [10.5, 10.5, 5.5, 24.5];
    const img = overlayImage(s, map, predicted, [false, true]);
    expect([img.width, img.height, img.channels]).toEqual([40, 30, 3]);
    const at = (x: number, y: number) => Array.from(img.pixels.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3));
    expect(at(10, 10)).toEqual([255, 40, 40]); // red dot over the green cross at a correct prediction
    expect(at(30 + 3, 20)).toEqual([40, 255, 60]); // the cross arm of the truth of landmark 1
    expect(at(5 + 5, 24)).toEqual([255, 230, 0]); // the flag square around prediction 1
    expect(at(5, 24)).toEqual([255, 40, 40]);
    // Far from everything: grayscale (the image scaled to 0-255).
    const [r, g, b] = at(38, 1);
    expect(r === g && g === b).toBe(true);
    expect(inferno(0)).toEqual([0, 0, 4]);
    expect(inferno(1)).toEqual([252, 255, 164]);

    const png = overlayPng(s, map, predicted, [false, true], { compress: (raw) => new Uint8Array(deflateSync(raw)) });
    const d = decode(png);
    expect(Buffer.from(d.pixels).equals(Buffer.from(img.pixels))).toBe(true);
    // Shrunk overlays: an integer factor down to maxWidth.
    const small = decode(overlayPng(s, map, predicted, [false, true], { maxWidth: 16 }));
    expect([small.width, small.height]).toEqual([14, 10]);
    expect(() => overlayImage(s, map, [1, 2], [false, true])).toThrow(/2 predicted values for 2 landmarks/);
  });
});

/** A small evaluation result built from made-up numbers through metrics.summarize (as evaluateSplit does). */
function fakeEvaluation(): { evaluation: EvaluationResult; samples: IsbiSample[] } {
  const L = 2;
  const images: ImageEvaluation[] = [];
  const samples: IsbiSample[] = [];
  for (let n = 0; n < 40; n++) {
    const id = String(n + 1).padStart(3, '0');
    const truth = [8 + (n % 5), 9, 20, 12 + (n % 3)];
    samples.push(sample(id, 32, 32, truth));
    const err = [0.2 + (n % 7) * 0.8, n % 4 === 0 ? 6 + n / 10 : 0.5 + (n % 3)];
    images.push({
      id,
      pixelSizeMm: [0.3, 0.3],
      predicted: [truth[0] + err[0] / 0.3, truth[1], truth[2], truth[3] + err[1] / 0.3],
      truth,
      argmax: [0, 0],
      radialErrorsMm: err,
      ereMm: [0.3 + err[0] * 0.5, 0.4 + err[1] * 0.4 + (n % 3) * 0.1],
      modeProbabilities: [0.02 + (n % 6) * 0.02, 0.01 + (n % 9) * 0.015],
      flagged: [],
      annotatorSpreadMm: [0.5, 2 + (n % 2)],
    });
  }
  const summary = summarize(
    {
      radialErrorsMm: images.flatMap((e) => e.radialErrorsMm),
      ereMm: images.flatMap((e) => e.ereMm),
      modeProbabilities: images.flatMap((e) => e.modeProbabilities),
      pixelSizeMm: 0.3,
      landmarksPerImage: L,
    },
    { calibration: REFERENCE_CALIBRATION_BINS, ereVsError: { binSize: 8 } },
  );
  for (const e of images) e.flagged = e.ereMm.map((v) => v > summary.split.ereThresholdMm);
  const logits = new Float32Array(L * 32 * 32).map((_, i) => Math.sin(i / 7) * 4);
  return {
    samples,
    evaluation: {
      label: 'fake',
      width: 32,
      height: 32,
      landmarks: L,
      temperatures: [1.25, 0.8],
      cutoff: 0.05,
      pointConvention: 'centre',
      meanNll: 5.4321,
      images,
      summary,
      comparison: { temperatures: [1, 1], calibration: summary.calibration },
      heatmaps: [heatmapSnapshot('001', logits, [1.25, 0.8], 32, 32), heatmapSnapshot('002', logits, [1.25, 0.8], 32, 32)],
    },
  };
}

describe('renderReport', () => {
  it('is one self-contained page with the three plots, the tables, the numbers and the overlays', () => {
    const { evaluation, samples } = fakeEvaluation();
    const calibrationRun: CalibrateResult = {
      temperatures: new Float32Array([1.25, 0.8]),
      initialTemperatures: [1, 1],
      eceBefore: 0.1234,
      eceAfter: 0.0567,
      bestEpoch: 1,
      history: [
        { epoch: 0, nll: NaN, validationNll: 6, ece: 0.1234, temperatures: [1, 1] },
        { epoch: 1, nll: 5.5, validationNll: 5.6, ece: 0.0567, temperatures: [1.25, 0.8] },
      ],
      before: evaluation.summary.calibration,
      after: evaluation.summary.calibration,
      fitCount: 10,
      validationCount: 10,
      settings: { epochs: 1, lr: 0.01, batchSize: 4, seed: 0, augmented: true, minTemperature: 0.01, cachedFit: false, cachedValidation: true },
    };
    const overlays = buildOverlays(evaluation, samples, { compress: (raw) => new Uint8Array(deflateSync(raw)) });
    expect(overlays.map((o) => o.id)).toEqual(['001', '002']);
    for (const o of overlays) decode(o.png as Uint8Array);
    const html = renderReport({ evaluation, calibration: calibrationRun, overlays, notes: ['model: fake <script>'] });

    for (const id of ['reliability', 'reliability-before', 'ere-vs-error', 'roc', 'landmark-difficulty', 'summary', 'split', 'per-landmark']) expect(html).toContain(`id="${id}"`);
    expect(html.match(/<svg /g)).toHaveLength(5);
    // The difficulty view: a mark of each kind per landmark, the spread in the table (landmark 2: 2 and 3 alternate).
    for (const cls of ['mre', 'ere', 'spread']) expect(html.match(new RegExp(`<circle class="${cls}"`, 'g'))).toHaveLength(2);
    expect(html).toMatch(/<td>0\.500<\/td><td>1\.250<\/td>/); // landmark 1: spread 0.5, then T
    expect(html).toMatch(/<td>2\.500<\/td><td>0\.800<\/td>/);
    const mreMark = (l: number) => html.match(new RegExp(`<circle class="mre"[^>]*><title>[^<]*MRE ${evaluation.summary.perLandmark[l].mean.toFixed(3)} mm`));
    expect(mreMark(0)).not.toBeNull();
    expect(mreMark(1)).not.toBeNull();
    const s = evaluation.summary;
    expect(s.roc).not.toBeNull();
    expect(html).toContain(`<td id="mre">${s.mre.mean.toFixed(3)}</td>`);
    expect(html).toContain(`<td id="ece">${(100 * s.calibration.ece).toFixed(2)}</td>`);
    expect(html).toContain(`AUC = ${s.roc!.auc.toFixed(3)}`);
    expect(html).toContain(`ERE ≥ ${s.roc!.proposedThreshold.toFixed(2)} mm`);
    expect(html).toContain(`correlation (binned) = ${s.ereVsError.binnedCorrelation.toFixed(2)}`);
    for (const sdr of s.sdr) expect(html).toContain(`<td>${sdr.percent.toFixed(2)}</td>`);
    expect(html).toContain(`<td>${s.split.erroneous.count}</td><td>${s.split.erroneous.mre.toFixed(3)}</td>`);
    expect(html).toContain('<b id="ece-before">12.34%</b>');
    expect(html).toContain('<b id="ece-after">5.67%</b>');
    expect(html).toContain('1.250 0.800');
    expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(2);
    expect(html).toContain('model: fake &lt;script&gt;');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).not.toContain('NaN');

    // From JSON (NaN -> null, Float32Array -> object, bytes -> data URIs) the page renders the same numbers.
    const viaJson = JSON.parse(JSON.stringify({ evaluation, calibration: calibrationRun, overlays: overlays.map((o) => ({ ...o, png: pngDataUri(o.png as Uint8Array) })) }));
    const again = renderReport(viaJson);
    expect(again).toContain(`<td id="mre">${s.mre.mean.toFixed(3)}</td>`);
    expect(again).toContain(`AUC = ${s.roc!.auc.toFixed(3)}`);
    expect(again.match(/<img src="data:image\/png;base64,/g)).toHaveLength(2);
    expect(again).not.toContain('NaN');

    // The objective: results written before it was an option (no settings.objective) fitted the NLL; the ECE
    // objective adds the fitting half's ECE to the history table.
    expect(html).toContain(`<b id="calibration-objective">NLL (the reference's CHH loss)</b>`);
    expect(html).not.toContain('ECE (fit, %)');
    const eceRun: CalibrateResult = {
      ...calibrationRun,
      history: calibrationRun.history.map((h, i) => ({ ...h, fitEce: i === 0 ? NaN : 0.0432 })),
      settings: { ...calibrationRun.settings, objective: 'ece', augmented: false },
    };
    const eceHtml = renderReport({ evaluation, calibration: eceRun });
    expect(eceHtml).toContain('<b id="calibration-objective">ECE of the first half (one Adam step per epoch)</b>');
    expect(eceHtml).toContain('<th>ECE (fit, %)</th>');
    expect(eceHtml).toContain('<td>4.32</td>');
    expect(eceHtml).not.toContain('NaN');
  });

  it('renders without a ROC (one class), a calibration run or overlays', () => {
    const { evaluation } = fakeEvaluation();
    const noRoc = { ...evaluation, comparison: null, heatmaps: [], summary: { ...evaluation.summary, roc: null } };
    const html = renderReport({ evaluation: noRoc });
    expect(html).toContain('id="roc"');
    expect(html).toContain('undefined: every landmark is on one');
    expect(html.match(/<svg /g)).toHaveLength(4);
    expect(html).not.toContain('Temperature scaling');
    // One annotator (or results written before the spread was recorded): no spread marks, a dash in the table.
    const oneAnnotator = { ...noRoc, images: noRoc.images.map((e) => ({ ...e, annotatorSpreadMm: null })) };
    const one = renderReport({ evaluation: oneAnnotator });
    expect(one.match(/<circle class="spread"/g)).toBeNull();
    expect(one.match(/<circle class="mre"/g)).toHaveLength(2);
    expect(one).toContain('<td>–</td>');
    expect(html).not.toContain('<img');
  });
});
