import { systemClock, type Clock } from '@agentq/shared';

export interface StepSchedulerOptions {
  /** Does what is due; returns when to come back (ms), or undefined when nothing is waiting. */
  step(): Promise<number | undefined>;
  /**
   * A step threw: returns when to try again (ms), or undefined to wait for the next kick. Not
   * called for a step that ends after `stop` (its error is the stop's doing).
   */
  failed(err: unknown): Promise<number | undefined>;
  /** Work that must end before the first step (an earlier run over the same thing). */
  after?: Promise<void>;
  /** Time of the retry holds (default: the system clock). */
  clock?: Pick<Clock, 'now'>;
}

/**
 * Runs the steps of one thing one at a time, each doing whatever is due:
 * - `kick` runs a step now; a kick while a step runs makes another step follow it at once;
 * - a step says when to come back (a timer kicks then), or that nothing is waiting;
 * - a failed step says when to try again: until then kicks are held back (not before), the timer
 *   runs the retry;
 * - `stop` ends it for good: no step starts again, the one running ends after its current call;
 * - `idle` resolves once no step runs.
 */
export class StepScheduler {
  private stopped = false;
  private again = false;
  private notBefore = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private after: Promise<void> | undefined;
  private readonly clock: Pick<Clock, 'now'>;

  constructor(private readonly options: StepSchedulerOptions) {
    this.after = options.after;
    this.clock = options.clock ?? systemClock;
  }

  /** True once stopped. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** True while a retry of a failed step is due later. */
  get holding(): boolean {
    return this.clock.now() < this.notBefore;
  }

  /** Runs a step now, unless one is running (another one then follows it) or a retry is due later. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.holding) return;
    this.clearTimer();
    this.running = this.loop().finally(() => {
      this.running = undefined;
      // a kick that arrived as the loop was ending
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Stops for good; the step in progress ends after its current call. */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  /** Resolves once no step is running. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // timers may fire a little before the clock reaches their due time: the wait is over
      this.notBefore = 0;
      this.kick();
    }, Math.max(0, ms));
  }

  private async loop(): Promise<void> {
    if (this.after) {
      await this.after;
      this.after = undefined;
    }
    for (;;) {
      if (this.stopped) return;
      this.again = false;
      let wait: number | undefined;
      try {
        wait = await this.options.step();
      } catch (err) {
        if (this.stopped) return;
        const retryIn = await this.options.failed(err).catch(() => undefined);
        if (retryIn !== undefined && !this.stopped) {
          this.notBefore = this.clock.now() + retryIn;
          this.schedule(retryIn);
        }
        return;
      }
      if (this.stopped) return;
      if (this.again) continue;
      if (wait !== undefined) this.schedule(wait);
      return;
    }
  }
}
