// A second process for the autotune cache's concurrency test: saves COUNT choices named PREFIX-i to the cache file
// PATH, one save each (every save locks, re-reads, merges and rewrites the file).
import { saveTuneChoices } from '../../src/node/tune-store.ts';
import type { TuneChoice } from '../../src/ops/conv2d/autotune.ts';
import type { AdapterDescription } from '../../src/engine/device.ts';

const [path, prefix, count] = process.argv.slice(2);
const adapter: AdapterDescription = { vendor: 'test', architecture: 'writer', device: '', description: '', isFallbackAdapter: false, runtime: 'node' };
for (let i = 0; i < Number(count); i++) {
  const choice: TuneChoice = { key: `${prefix}-${i}`, op: 'forward', kernel: { tm: 8, tn: 8 }, defaultKernel: { tm: 8, tn: 8 }, variant: 'forward TM8 TN8', defaultVariant: 'forward TM8 TN8', isDefault: true, ms: 1, defaultMs: 1, timings: [], refused: [] };
  await saveTuneChoices(path, adapter, [choice]);
}
