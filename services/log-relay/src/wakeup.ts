/**
 * A wake-up signal: `wait(ms)` resolves after `ms`, or as soon as `wake()` is called. A wake-up
 * that arrives while nobody waits makes the next `wait` return at once.
 */
export class Wakeup {
  private pending: (() => void) | undefined;
  private woken = false;

  wake(): void {
    this.woken = true;
    this.pending?.();
  }

  /** True (and cleared) when a wake-up arrived since the last call. */
  take(): boolean {
    const woken = this.woken;
    this.woken = false;
    return woken;
  }

  wait(ms: number): Promise<void> {
    if (this.take()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pending = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.pending = done;
    });
  }
}
