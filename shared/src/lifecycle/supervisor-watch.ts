/** What the watch needs of `process` (a test passes an emitter of its own). */
export interface SupervisedProcess {
  /** Set when a parent started the process with an IPC channel. */
  readonly send?: unknown;
  /** `false` once that channel closed. */
  readonly connected?: boolean;
  once(event: 'disconnect', listener: () => void): unknown;
  exit(code?: number): void;
}

/**
 * Notices that the supervisor which started this process with an IPC channel (as `npm start`
 * does) is gone, even when it was killed with SIGKILL: the channel closes with it. The channel may
 * have closed before the watch began (while the service's modules were loading), which
 * `connected` tells. Until a handler is given with `onGone`, a supervisor gone ends the process at
 * once: it has started nothing that needs closing yet, and has no logger whose output could hang
 * the exit. A process started without a channel is never told anything.
 */
export class SupervisorWatch {
  private handler: () => void;
  private watching = false;
  private isGone = false;

  constructor(private readonly proc: SupervisedProcess) {
    this.handler = () => proc.exit(0);
  }

  /** Whether a supervisor started this process with an IPC channel. */
  get supervised(): boolean {
    return typeof this.proc.send === 'function';
  }

  get gone(): boolean {
    return this.isGone;
  }

  /** Starts watching (once); the handler runs now if the channel is closed already. */
  start(): this {
    if (this.watching || !this.supervised) return this;
    this.watching = true;
    this.proc.once('disconnect', () => this.notice());
    if (this.proc.connected === false) this.notice();
    return this;
  }

  /** From now on a supervisor gone runs `handler` instead; at once when it is gone already. */
  onGone(handler: () => void): void {
    this.handler = handler;
    if (this.isGone) handler();
  }

  private notice(): void {
    if (this.isGone) return;
    this.isGone = true;
    this.handler();
  }
}
