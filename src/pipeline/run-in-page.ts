// The pipeline inside a page (called through harness/index.html by `npm start -- --runtime browser`): progress
// events go to the console as "@@chh {json}" lines, which the Node side turns into progress bars.
import { Engine } from '../engine/engine.ts';
import type { RunSettings } from '../chh/config.ts';
import { runPipeline, type PipelineResult } from './pipeline.ts';
import { base64, storedZlib } from '../io/png.ts';

export type BrowserPipelineResult = Omit<PipelineResult, 'weights'> & { weightsBase64: string };

export async function runPipelineInBrowser(settings: RunSettings): Promise<BrowserPipelineResult> {
  const engine = await Engine.create({ runtime: 'browser' });
  try {
    // PNG overlays: the page has no synchronous zlib; stored (uncompressed) blocks keep them valid.
    const result = await runPipeline(engine, settings, (e) => console.log(`@@chh ${JSON.stringify(e)}`), undefined, storedZlib);
    const { weights, ...rest } = result;
    return { ...rest, weightsBase64: base64(weights) };
  } finally {
    engine.destroy();
  }
}
