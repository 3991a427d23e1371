import { Backoff, type Logger, type RetryPolicy, type TranscriptArchive } from '@agentq/shared';
import type { RelayErrorCode } from '../relay-errors.js';
import type { RelayMetrics } from '../relay-metrics.js';

/** What the relay asked of the archive. */
export type ArchiveOp = 'append' | 'finish' | 'check';

export interface ArchiveHealthOptions {
  archive: TranscriptArchive;
  logger: Logger;
  metrics: RelayMetrics;
  /** How often the archive is checked while it works and nothing was written (default 15 s). */
  checkEveryMs?: number;
  /** Checks while it fails (default 1 s doubling to 15 s). */
  retry?: RetryPolicy;
}

const CHECK_EVERY_MS = 15_000;
const CHECK_RETRY: RetryPolicy = { initialMs: 1000, maxMs: 15_000 };

/** What a failure was, for the log: a store's error name and message, without the request it came from. */
function describe(err: unknown): { name?: string; message: string; status?: number } {
  if (!(err instanceof Error)) return { message: String(err) };
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return { name: err.name, message: err.message, ...(status === undefined ? {} : { status }) };
}

/**
 * Whether the transcript archive works, as the relay last saw it. Every write reports here, and a
 * check runs at start and periodically (so a store that is down or misconfigured shows while no
 * task runs). While it fails, the relay's `/readyz` answers 503 and `agentq_relay_archive_up` is
 * 0; the events wait in Redis, unacknowledged, and their delivery is retried with backoff.
 */
export class ArchiveHealth {
  private up = true;
  private downSince = 0;
  private lastSuccess = 0;
  private readonly checkFailures: Backoff;
  private readonly checkEveryMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: ArchiveHealthOptions) {
    this.checkEveryMs = options.checkEveryMs ?? CHECK_EVERY_MS;
    this.checkFailures = new Backoff(options.retry ?? CHECK_RETRY);
    options.metrics.archiveUp.set(1);
  }

  /** False from a failed write or check until the next one that succeeds. */
  get isUp(): boolean {
    return this.up;
  }

  /** Runs one archive call and reports how it went; rethrows its failure. */
  async track<T>(op: ArchiveOp, work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (err) {
      this.failed(op, err);
      throw err;
    }
    this.succeeded();
    return result;
  }

  /** Checks at once, then periodically, until `stop`. */
  start(): void {
    this.schedule(0);
  }

  /** Stops checking; waits for a check in progress. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private succeeded(): void {
    this.lastSuccess = Date.now();
    if (this.up) return;
    this.up = true;
    this.options.metrics.archiveUp.set(1);
    this.options.logger.info({ archive: this.options.archive.location, downMs: Date.now() - this.downSince }, 'transcript archive available again');
  }

  private failed(op: ArchiveOp, err: unknown): void {
    this.options.metrics.archiveFailures.inc({ op });
    if (!this.up) return;
    this.up = false;
    this.downSince = Date.now();
    this.options.metrics.archiveUp.set(0);
    this.options.logger.warn(
      { archive: this.options.archive.location, op, error: describe(err), code: 'RELAY_ARCHIVE_UNAVAILABLE' satisfies RelayErrorCode },
      'transcript archive unavailable; events wait in Redis until it takes them',
    );
  }

  private schedule(ms: number): void {
    if (this.stopped || !this.options.archive.check) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.check().finally(() => {
        this.running = undefined;
      });
    }, ms);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const sinceWrite = Date.now() - this.lastSuccess;
    // a write that worked a moment ago says as much as a check
    if (this.up && sinceWrite < this.checkEveryMs) return this.schedule(this.checkEveryMs - sinceWrite);
    try {
      await this.track('check', async () => this.options.archive.check?.());
      this.checkFailures.reset();
      this.schedule(this.checkEveryMs);
    } catch {
      this.schedule(this.checkFailures.fail());
    }
  }
}
