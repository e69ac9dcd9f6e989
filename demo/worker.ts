// The demo page's training worker: the library's session behind its message protocol (src/worker/serve.ts).
// main.ts starts it with new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }).
import { serveTrainingWorker } from '../src/index.ts';

serveTrainingWorker(self);
