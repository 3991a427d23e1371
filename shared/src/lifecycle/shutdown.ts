import type { Logger } from 'pino';
import { followLogOutput } from './log-output.js';
import type { SupervisorWatch } from './supervisor-watch.js';

/** How long an exit waits for the log lines in flight when the supervisor is gone. */
const LOG_SETTLE_MS = 2000;

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

  /**
   * SIGTERM and SIGINT start the shutdown, and so does a supervisor gone: from now on `supervisor`
   * (the process's one watch, `@agentq/shared/supervisor`) runs the shutdown instead of ending the
   * process at once. `onDone` follows the shutdown.
   */
  installSignalHandlers(supervisor: SupervisorWatch, onDone: () => void = () => process.exit(0)): void {
    const handle = (reason: string) => {
      void this.shutdown(reason).then(onDone);
    };
    process.once('SIGTERM', () => handle('SIGTERM'));
    process.once('SIGINT', () => handle('SIGINT'));
    supervisor.onGone(() => {
      // the supervisor's end of stdout died with it: exit once no log line is pending
      const output = followLogOutput(this.logger);
      void this.shutdown('supervisor gone')
        .then(() => output.settled(LOG_SETTLE_MS))
        .then(onDone);
    });
  }
}
