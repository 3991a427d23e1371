import type { Redis } from 'ioredis';

/**
 * A connection reserved for blocking reads. `unblock()` ends a read in progress at once (with
 * CLIENT UNBLOCK sent on another connection), and `epoch` changes with every (re)connection, so
 * a caller can tell that replies may have been lost in between.
 */
export class BlockingConnection {
  private currentEpoch = 0;
  private clientId: number | undefined;
  private readonly onReady = () => {
    this.currentEpoch += 1;
    this.clientId = undefined;
  };

  constructor(
    readonly connection: Redis,
    private readonly control: Redis,
  ) {
    connection.on('ready', this.onReady);
    if (connection.status === 'ready') this.currentEpoch = 1;
  }

  get epoch(): number {
    return this.currentEpoch;
  }

  /** Runs a blocking command; `args` are the command's arguments. */
  async call(command: string, args: (string | number)[]): Promise<unknown> {
    if (this.clientId === undefined) this.clientId = await this.connection.client('ID');
    return this.connection.call(command, args);
  }

  /** Ends a blocking read in progress (it then returns as if it had timed out). */
  async unblock(): Promise<void> {
    const id = this.clientId;
    if (id === undefined || this.control.status !== 'ready') return;
    try {
      await this.control.client('UNBLOCK', id);
    } catch {
      // the read ends by its own timeout
    }
  }

  /**
   * Stops the reading loop for good: `unblock()` first, and after `graceMs` closes the connection,
   * which fails a read still waiting (e.g. queued while Redis is unreachable). Resolves when `loop`
   * has ended.
   */
  async stopLoop(loop: Promise<void>, graceMs = 1000): Promise<void> {
    let done = false;
    void loop.finally(() => {
      done = true;
    });
    const deadline = Date.now() + graceMs;
    while (!done) {
      if (Date.now() > deadline) this.connection.disconnect();
      else await this.unblock();
      await Promise.race([loop, new Promise((r) => setTimeout(r, 50))]);
    }
  }

  detach(): void {
    this.connection.off('ready', this.onReady);
  }
}
