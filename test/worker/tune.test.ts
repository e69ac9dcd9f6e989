// Tuning from a page: the 'tune' request times the conv kernels of the settings' shapes on the worker's GPU, stores
// the winners in the session's store (IndexedDB in a browser; a memory store here), and a later session's engine
// uses them; a foreign record is reported in one line and replaced.
import { afterAll, describe, expect, it } from 'vitest';
import { serveTrainingWorker } from '../../src/worker/serve.ts';
import { TrainingWorker, type WorkerLike } from '../../src/worker/client.ts';
import { memoryStore } from '../../src/worker/idb-store.ts';
import { TUNE_RECORD } from '../../src/worker/tuning.ts';
import { DEFAULT_SESSION_SETTINGS, type SessionSettings } from '../../src/worker/settings.ts';
import type { Phase } from '../../src/worker/protocol.ts';
import { createNodeEngine } from '../../src/node/gpu.ts';
import { conv2dTuning } from '../../src/ops/conv2d/tuning.ts';
import { adapterIdentity, type TuneCache } from '../../src/ops/conv2d/tune-cache.ts';

const SETTINGS: SessionSettings = { ...DEFAULT_SESSION_SETTINGS, width: 64, height: 64, model: 'tiny', batch: 1, augment: false };
const store = memoryStore();
const sessions: ReturnType<typeof serveTrainingWorker>[] = [];
const channels: MessageChannel[] = [];

function serve(): { client: TrainingWorker; session: ReturnType<typeof serveTrainingWorker>; logs: string[]; phases: Phase[] } {
  const channel = new MessageChannel();
  const session = serveTrainingWorker(channel.port1, { store, createEngine: () => createNodeEngine({ tuneCache: null }) });
  const client = new TrainingWorker(channel.port2 as unknown as WorkerLike);
  channel.port1.start();
  channel.port2.start();
  const logs: string[] = [];
  const phases: Phase[] = [];
  client.on('log', (l) => logs.push(l.message));
  client.on('phase', (p) => phases.push(p.phase));
  sessions.push(session);
  channels.push(channel);
  return { client, session, logs, phases };
}

afterAll(() => {
  for (const s of sessions) s.engine?.destroy();
  for (const c of channels) c.port1.close(), c.port2.close();
});

describe('tuning through the worker protocol', () => {
  it('replaces a foreign record, stores the winners, and the next session uses them', async () => {
    await store.saveJson(TUNE_RECORD, { written: 'by another tool' });
    const first = serve();
    const summary = await first.client.tune(SETTINGS);
    expect(first.phases).toEqual(['tuning', 'idle']);
    expect(first.logs.filter((l) => /autotune cache record "autotune": not a chh-webgpu\/autotune document/.test(l))).toHaveLength(1);
    expect(summary.shapes).toBeGreaterThan(30);
    expect(summary.tunedMs).toBeGreaterThan(0);
    expect(summary.tunedMs).toBeLessThanOrEqual(summary.defaultMs);
    // The whole-model check ran (some shape's winner beat its default alone) or nothing needed it; dropped winners
    // leave every shape at its default.
    if (summary.check && !summary.check.kept) expect(summary.tunedMs).toBe(summary.defaultMs);
    if (summary.check) expect(summary.table).toMatch(/the whole model's steps: [\d.]+ ms with the winners/);
    expect(summary.table).toMatch(/all \d+ GEMMs/);
    const cache = (await store.loadJson<TuneCache>(TUNE_RECORD))!;
    const id = adapterIdentity(first.session.engine!.adapter);
    expect(Object.keys(cache.adapters[id].shapes)).toHaveLength(summary.shapes);

    const second = serve();
    const engine = await second.session.ensureEngine();
    expect(conv2dTuning(engine).tuned.size).toBe(summary.shapes);
    await second.client.unfinishedRun(); // its response comes after the log events the session sent before it
    expect(second.logs).toContain(`kernels: ${summary.shapes} shapes tuned for this GPU earlier`);
  });
});
