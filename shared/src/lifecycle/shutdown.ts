import type { Logger } from 'pino';

export interface ShutdownHandler {
  name: string;
  close: () => Promise<void> | void;
}

/**
 * The one shutdown manager of a service: named handlers run in reverse registration order within
 * a deadline; calling `shutdown()` twice runs them once.
 */
export class ShutdownManager {
  private readonly handlers: ShutdownHandler[] = [];
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly logger: Logger,
    private readonly deadlineMs = 20_000,
  ) {}

  get isShuttingDown(): boolean {
    return this.stopping;
  }

  register(name: string, close: () => Promise<void> | void): void {
    this.handlers.push({ name, close });
  }

  shutdown(reason: string): Promise<void> {
    if (this.running) return this.running;
    this.stopping = true;
    this.logger.info({ reason }, 'shutting down');
    this.running = this.runHandlers();
    return this.running;
  }

  private async runHandlers(): Promise<void> {
    const deadline = Date.now() + this.deadlineMs;
    for (const handler of [...this.handlers].reverse()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.logger.warn({ handler: handler.name }, 'shutdown deadline passed; skipping handler');
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(handler.close),
          new Promise<void>((_, reject) => {
            timer = setTimeout(() => reject(new Error('timed out')), left);
          }),
        ]);
      } catch (err) {
        this.logger.warn({ handler: handler.name, err }, 'shutdown handler failed');
      } finally {
        if (timer) clearTimeout(timer);
      }
    }
    this.logger.info('shut down');
  }

  /** SIGTERM and SIGINT start the shutdown; when a supervisor's IPC channel closes, too. */
  installSignalHandlers(onDone: () => void = () => process.exit(0)): void {
    const handle = (reason: string) => {
      void this.shutdown(reason).then(onDone);
    };
    process.once('SIGTERM', () => handle('SIGTERM'));
    process.once('SIGINT', () => handle('SIGINT'));
    if (process.send) {
      // The supervisor's end of stdout died with it: give the pending log writes time to fail
      // with EPIPE (pino then drops further output) rather than flush them into a closed pipe
      // at exit, which never returns.
      process.once('disconnect', () => {
        void this.shutdown('supervisor gone').then(() => setTimeout(onDone, 250));
      });
    }
  }
}
