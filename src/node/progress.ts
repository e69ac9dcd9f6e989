// A one-line progress bar with ETA for long work in a terminal; plain periodic lines when not a TTY (CI logs).
import type { PipelineEvent } from '../pipeline/steps.ts';
export class ProgressBar {
  private readonly start = Date.now();
  private lastPrint = 0;
  private readonly tty: boolean;

  constructor(
    /** Units of work in all; may be set later when only the loader knows it. */
    public total: number,
    private readonly title: string,
    private readonly stream: NodeJS.WriteStream = process.stdout,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  update(done: number, info = ''): void {
    const now = Date.now();
    const finished = done >= this.total;
    if (!finished && now - this.lastPrint < (this.tty ? 100 : 5000)) return;
    this.lastPrint = now;
    const elapsed = (now - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : NaN;
    const width = 24;
    const filled = Math.round((width * Math.min(done, this.total)) / this.total);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    const line = `${this.title} [${bar}] ${done}/${this.total} ${info} elapsed ${fmtDuration(elapsed)} ETA ${fmtDuration(eta)}`;
    if (this.tty) this.stream.write(`\r${line}\x1b[K${finished ? '\n' : ''}`);
    else this.stream.write(`${line}\n`);
  }
}

export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const mm = String(m % 60).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
}

/**
 * Shows pipeline events in a terminal: a 'log' event as a line, the 'progress' of each task as its own bar.
 * (src/pipeline/steps.ts emits them; the CLI and npm start print them the same way.)
 */
export function printEvents(): (e: PipelineEvent) => void {
  const bars = new Map<string, ProgressBar>();
  return (e) => {
    if (e.kind === 'log') {
      console.log(e.message);
      return;
    }
    let bar = bars.get(e.task);
    if (!bar) bars.set(e.task, (bar = new ProgressBar(e.total, e.task)));
    bar.total = e.total;
    bar.update(e.done, e.info ?? '');
  };
}
