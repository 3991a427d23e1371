import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import { errorMessage, isFinalState, type Logger, type RedisKeys, type TaskRecord, type TaskStore } from '@agentq/shared';
import type { SandboxInfo, SandboxProvider } from './providers/sandbox-provider.js';

export interface SweeperOptions {
  provider: SandboxProvider;
  store: TaskStore;
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  registry: Registry;
  /** Only sandboxes with all these tags are looked at (those of this deployment). */
  tags: Record<string, string>;
  /** The tag holding a sandbox's task id. */
  taskTag: string;
  /** Time between two sweeps (of all dispatchers together). */
  intervalMs: number;
  /** How long an ended sandbox of a final (or unknown) task is kept before it is removed. */
  keepMs: number;
  /** The concurrency slots: a terminated sandbox of a final or unknown task frees its task's slot. */
  slots?: { release(taskId: string): Promise<unknown> };
  now?: () => number;
}

/** What one sweep did. */
export interface SweepReport {
  /** Running sandboxes whose task is final, unknown, or runs in another sandbox. */
  terminated: string[];
  /** Ended sandboxes past the retention. */
  removed: string[];
  /** The sweep did not run: another dispatcher swept in this interval. */
  skipped?: boolean;
}

/** `slot`: once the sandbox is gone, its task's slot is freed (the task is final or unknown, the sandbox was its own). */
type Verdict = { action: 'terminate' | 'remove'; reason: string; slot?: boolean } | undefined;

/**
 * Finds orphaned sandboxes and ends them: a sandbox still running although its task is final,
 * unknown (its record is gone), or recorded with another sandbox is terminated (a dispatcher died
 * between the task's end and the cleanup, or a launch was repeated); once it is gone, a final or
 * unknown task's concurrency slot is freed. An ended sandbox of a final or
 * unknown task is removed once it is older than the retention (it was kept for follow-ups). Sandboxes
 * of live tasks belong to their jobs and are left alone. A Redis lock lets one dispatcher sweep per
 * interval.
 */
export class SandboxSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepReport> | undefined;
  private readonly swept: Counter<'action'>;
  private readonly now: () => number;
  private readonly id = randomUUID();

  constructor(private readonly options: SweeperOptions) {
    this.now = options.now ?? Date.now;
    const existing = options.registry.getSingleMetric('agentq_dispatcher_sandboxes_swept_total');
    this.swept =
      (existing as Counter<'action'> | undefined) ??
      new Counter({
        name: 'agentq_dispatcher_sandboxes_swept_total',
        help: 'Orphaned sandboxes terminated, and ended sandboxes removed past their retention, by this dispatcher.',
        labelNames: ['action'],
        registers: [options.registry],
      });
  }

  /** Sweeps now, then every interval. */
  start(): void {
    if (this.timer) return;
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops sweeping; waits for a sweep in progress. Safe to call twice. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One sweep, when no other dispatcher swept in this interval. Never throws. */
  sweep(): Promise<SweepReport> {
    this.running ??= this.sweepOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async sweepOnce(): Promise<SweepReport> {
    const { provider, logger } = this.options;
    const report: SweepReport = { terminated: [], removed: [] };
    try {
      // held for (almost) the whole interval, never released: one sweep per interval in all
      const lockMs = Math.max(1000, this.options.intervalMs - 500);
      const got = await this.options.redis.set(this.options.keys.sweepLock, this.id, 'PX', lockMs, 'NX');
      if (got !== 'OK') return { ...report, skipped: true };
      for (const info of await provider.list(this.options.tags)) {
        try {
          const verdict = await this.judge(info);
          if (!verdict) continue;
          const taskId = info.tags[this.options.taskTag];
          if (verdict.action === 'terminate') {
            const handle = await provider.attach(info.id);
            await handle?.terminate();
            if (verdict.slot && taskId) await this.options.slots?.release(taskId);
            await handle?.release();
            report.terminated.push(info.id);
            this.swept.inc({ action: 'terminated' });
            logger.warn({ sandboxId: info.id, taskId, reason: verdict.reason }, 'orphaned sandbox terminated');
          } else {
            await provider.remove(info.id);
            report.removed.push(info.id);
            this.swept.inc({ action: 'removed' });
            logger.info({ sandboxId: info.id, taskId, reason: verdict.reason }, 'ended sandbox removed');
          }
        } catch (err) {
          logger.warn({ sandboxId: info.id, err: errorMessage(err) }, 'sandbox sweep failed for one sandbox');
        }
      }
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, 'sandbox sweep failed');
    }
    return report;
  }

  private async judge(info: SandboxInfo): Promise<Verdict> {
    const taskId = info.tags[this.options.taskTag];
    const task: TaskRecord | undefined = taskId ? await this.options.store.get(taskId) : undefined;
    if (info.status.state === 'running') {
      if (!task) return { action: 'terminate', reason: 'its task is unknown', slot: true };
      if (isFinalState(task.state)) return { action: 'terminate', reason: `its task is ${task.state}`, slot: task.sandboxId === undefined || task.sandboxId === info.id };
      if (task.sandboxId !== undefined && task.sandboxId !== info.id) {
        return { action: 'terminate', reason: `its task runs in sandbox ${task.sandboxId}` };
      }
      return undefined;
    }
    if (task && !isFinalState(task.state)) return undefined;
    // ended: kept for follow-ups until the retention is over, counted from the task's end
    const since = Date.parse(task?.finishedAt ?? task?.updatedAt ?? info.createdAt ?? '');
    if (!Number.isFinite(since)) return undefined;
    if (this.now() - since < this.options.keepMs) return undefined;
    return { action: 'remove', reason: task ? `its task ended at ${new Date(since).toISOString()}` : 'its task is unknown' };
  }
}
