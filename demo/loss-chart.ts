// The live loss curve (uPlot): the loss of every step and the mean of each finished epoch, against the step.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export class LossChart {
  private readonly plot: uPlot;
  private readonly steps: number[] = [];
  private readonly losses: number[] = [];
  private readonly epochMeans: (number | null)[] = [];
  private pending = false;

  constructor(parent: HTMLElement) {
    const width = Math.max(320, Math.min(640, parent.clientWidth || 560));
    this.plot = new uPlot(
      {
        width,
        height: 260,
        title: 'Training loss (2D softmax NLL)',
        scales: { x: { time: false } },
        axes: [{ label: 'step' }, { label: 'loss' }],
        series: [
          { label: 'step' },
          { label: 'step loss', stroke: '#1f5fff', width: 1.5 },
          { label: 'epoch mean', stroke: '#e03030', width: 0, points: { show: true, size: 8, fill: '#e03030' } },
        ],
      },
      [[], [], []],
      parent,
    );
  }

  clear(): void {
    this.steps.length = 0;
    this.losses.length = 0;
    this.epochMeans.length = 0;
    this.redraw();
  }

  /** Keeps the first `steps` steps (a resumed run repeats the unfinished epoch). */
  rewind(steps: number, losses: readonly number[], epochMeans: readonly number[]): void {
    this.clear();
    let e = 0;
    const perEpoch = epochMeans.length > 0 ? Math.round(steps / epochMeans.length) : 0;
    for (let i = 0; i < Math.min(steps, losses.length); i++) {
      this.addStep(i + 1, losses[i]);
      if (perEpoch > 0 && (i + 1) % perEpoch === 0 && e < epochMeans.length) this.addEpoch(epochMeans[e++]);
    }
  }

  addStep(step: number, loss: number): void {
    this.steps.push(step);
    this.losses.push(loss);
    this.epochMeans.push(null);
    this.schedule();
  }

  /** The epoch's mean loss, drawn at its last step. */
  addEpoch(meanLoss: number): void {
    if (this.epochMeans.length > 0) this.epochMeans[this.epochMeans.length - 1] = meanLoss;
    this.schedule();
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.redraw();
    });
  }

  private redraw(): void {
    this.plot.setData([this.steps.slice(), this.losses.slice(), this.epochMeans.slice()] as uPlot.AlignedData);
  }
}
