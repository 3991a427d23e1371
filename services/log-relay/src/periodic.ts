/** Runs `task` every `everyMs` (measured from the end of the previous run) until stopped. */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly everyMs: number,
    private readonly task: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.schedule(this.everyMs);
  }

  /** Stops the schedule and waits for a run in progress. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.task()
        .catch(this.onError)
        .finally(() => {
          this.running = undefined;
          this.schedule(this.everyMs);
        });
    }, ms);
  }
}
