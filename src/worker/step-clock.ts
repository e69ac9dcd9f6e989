// The clock of a training run's steps per second and ETA: time spent outside training steps (heatmaps, pauses)
// does not count.
/** Times training steps (heatmaps and pauses do not count) for the steps per second and the ETA. */
export class StepClock {
  private activeMs = 0;
  private steps = 0;
  private last = performance.now();

  /** Restarts the clock (after a pause). */
  restart(): void {
    this.last = performance.now();
  }

  /** Excludes time spent outside training (a heatmap) from the step being timed. */
  skip(ms: number): void {
    this.last += ms;
  }

  /** Counts a finished step; returns steps per second so far. */
  step(): number {
    const now = performance.now();
    this.activeMs += now - this.last;
    this.last = now;
    this.steps++;
    return this.steps / Math.max(1e-3, this.activeMs / 1000);
  }
}
