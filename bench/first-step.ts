// Time to the first result from a cold start (bench/first-result.ts), in Node or in a fresh headless Chromium page:
//   npx tsx bench/first-step.ts --what predict --model tiny --size 128x160 --compile on
//   npx tsx bench/first-step.ts --what train --model paper --size 128x160 --batch 1 --compile off --runtime browser
// Sizes are WxH. Each run is one process (and, in the page, one browser), so every compile is cold. Prints one JSON line.
import { parseArgs } from 'node:util';
import { MODEL_PRESETS, type ModelPreset } from '../src/nn/unet.ts';
import { openBrowser } from '../src/node/browser.ts';
import { firstResult, type FirstResult, type FirstResultConfig } from './first-result.ts';

function fail(message: string): never {
  console.error(`first-step: ${message}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    what: { type: 'string', default: 'predict' },
    model: { type: 'string', default: 'tiny' },
    size: { type: 'string', default: '128x160' },
    batch: { type: 'string', default: '1' },
    compile: { type: 'string', default: 'on' },
    runtime: { type: 'string', default: 'node' },
  },
});
const size = /^(\d+)x(\d+)$/.exec(values.size!);
if (!size) fail(`--size must be WxH (e.g. 128x160), got ${values.size}`);
if (values.what !== 'predict' && values.what !== 'train') fail(`--what must be predict or train, got ${values.what}`);
if (!(values.model! in MODEL_PRESETS)) fail(`--model must be one of ${Object.keys(MODEL_PRESETS).join(', ')}, got ${values.model}`);
if (values.compile !== 'on' && values.compile !== 'off') fail(`--compile must be on or off, got ${values.compile}`);
if (values.runtime !== 'node' && values.runtime !== 'browser') fail(`--runtime must be node or browser, got ${values.runtime}`);
const batch = Number(values.batch);
if (!Number.isInteger(batch) || batch < 1) fail(`--batch must be a positive integer, got ${values.batch}`);

const cfg: FirstResultConfig = {
  runtime: values.runtime,
  what: values.what,
  model: values.model as ModelPreset,
  width: Number(size[1]),
  height: Number(size[2]),
  batch,
  compile: values.compile === 'on',
};

async function inBrowser(): Promise<FirstResult> {
  const session = await openBrowser();
  try {
    return await session.call<FirstResult>('bench/first-result.ts', 'firstResult', cfg);
  } finally {
    await session.close();
  }
}

const result = cfg.runtime === 'browser' ? await inBrowser() : await firstResult(cfg);
console.log(JSON.stringify({ ...cfg, ...result }));
