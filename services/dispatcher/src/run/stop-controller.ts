import { isFinalState, type BudgetStop, type Logger, type TaskStore } from '@agentq/shared';
import type { CancelListener } from '../cancel-listener.js';
import type { MeteredSpend } from './metered-spend.js';

/**
 * Why the dispatcher stops a run's sandbox: a cancel request, the task's time limit, its spending
 * limit, or the task turned final elsewhere (or vanished) while it ran.
 */
export type StopReason = 'cancel' | 'timeout' | 'budget' | 'final';

export interface StopWatch {
  taskId: string;
  /** Cancel requests as they are announced. */
  cancels: Pick<CancelListener, 'watch'>;
  /**
   * The task record, read every `pollMs`: a cancel request announced while the dispatcher was not
   * listening is found there, and so is a task that turned final elsewhere.
   */
  store: Pick<TaskStore, 'get'>;
  pollMs: number;
  /** When the task's time is up (epoch milliseconds). */
  deadlineMs: number;
  /** The spending limit (USD) `cost` checks against; none when undefined. */
  maxCostUsd: number | undefined;
  /**
   * What the model gateway recorded for the task, read every `pollMs` too: its metered spend counts
   * as the task's cost, and a budget stop (the gateway refused a call for money) stops the run.
   */
  metered?: () => Promise<MeteredSpend>;
  log: Logger;
}

/**
 * The one way a run is stopped: every source of a stop (an announced cancel, the record, the
 * deadline, the spending limit, the output that can no longer be written) aborts one signal, whose
 * reason is the first stop's; later stops change nothing. `close` ends the watching, not the stop.
 */
export class StopController {
  private readonly controller = new AbortController();
  private readonly cleanups: (() => void)[] = [];
  private reportedUsd: number | undefined;
  private meteredUsd: number | undefined;
  private budgetStop: BudgetStop | undefined;
  private readMetered: (() => Promise<MeteredSpend>) | undefined;

  private constructor(
    private readonly log: Logger,
    private readonly maxCostUsd: number | undefined,
  ) {}

  /** Starts watching for the reasons to stop a task's run. */
  static watch(options: StopWatch): StopController {
    const stops = new StopController(options.log, options.maxCostUsd);
    stops.readMetered = options.metered;
    stops.cleanups.push(options.cancels.watch(options.taskId, () => stops.stop('cancel')));
    const timer = setTimeout(() => stops.stop('timeout'), Math.max(0, options.deadlineMs - Date.now()));
    stops.cleanups.push(() => clearTimeout(timer));
    let polling = false;
    const poll = setInterval(() => {
      if (polling || stops.stopped) return;
      polling = true;
      // Redis trouble shows up in the run's own writes
      const record = options.store.get(options.taskId).then((current) => {
        if (!current || isFinalState(current.state)) stops.stop('final');
        else if (current.cancelRequested) stops.stop('cancel');
      });
      const metered = options.metered?.().then((spend) => {
        if (spend.stop) stops.budget(spend.stop);
        stops.metered(spend.spentUsd);
      });
      Promise.allSettled([record, metered])
        .then(() => undefined)
        .finally(() => {
          polling = false;
        });
    }, options.pollMs);
    stops.cleanups.push(() => clearInterval(poll));
    return stops;
  }

  /** Aborted at the first stop, with its `StopReason` as the reason. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get stopped(): boolean {
    return this.controller.signal.aborted;
  }

  /** The first stop's reason; undefined while the run goes on. */
  get reason(): StopReason | undefined {
    return this.stopped ? (this.controller.signal.reason as StopReason) : undefined;
  }

  /** Stops the run, unless it was stopped already. True when this call stopped it. */
  stop(reason: StopReason): boolean {
    if (this.stopped) return false;
    this.log.info({ reason }, 'stopping sandbox');
    this.controller.abort(reason);
    return true;
  }

  /** Calls `act` once with the reason of the stop: at once when the run is stopped already. */
  onStop(act: (reason: StopReason) => void): void {
    const reason = this.reason;
    if (reason !== undefined) {
      act(reason);
      return;
    }
    this.signal.addEventListener('abort', () => act(this.signal.reason as StopReason), { once: true });
  }

  /** The cost the agent reported so far: over the spending limit, the run is stopped. */
  cost(costUsd: number | undefined): void {
    if (costUsd !== undefined) this.reportedUsd = Math.max(this.reportedUsd ?? 0, costUsd);
    this.checkCost();
  }

  /** What the model gateway metered for the task so far: it counts as the task's cost too. */
  metered(spentUsd: number): void {
    if (spentUsd > 0) this.meteredUsd = Math.max(this.meteredUsd ?? 0, spentUsd);
    this.checkCost();
  }

  /** The model gateway refused a call of the task for money: the run is stopped at once. */
  budget(stop: BudgetStop): void {
    if (this.stopped) return;
    this.budgetStop = stop;
    this.log.info({ scope: stop.scope, limitUsd: stop.limitUsd, spentUsd: stop.spentUsd }, 'model gateway refused the task for money');
    this.stop('budget');
  }

  /** The task's cost so far: the larger of what the agent reported and what the gateway metered. */
  get costUsd(): number | undefined {
    if (this.reportedUsd === undefined) return this.meteredUsd;
    return Math.max(this.reportedUsd, this.meteredUsd ?? 0);
  }

  /** Why the run was stopped for money, when it was: the gateway's reason, or the task's own limit. */
  get budgetReason(): BudgetStop | undefined {
    return this.reason === 'budget' ? this.budgetStop : undefined;
  }

  private checkCost(): void {
    const costUsd = this.costUsd;
    if (this.stopped || this.maxCostUsd === undefined || costUsd === undefined || !(costUsd > this.maxCostUsd)) return;
    this.budgetStop = { scope: 'task', limitUsd: this.maxCostUsd, spentUsd: costUsd };
    this.log.info({ costUsd, maxCostUsd: this.maxCostUsd }, 'task over its spending limit');
    this.stop('budget');
  }

  /**
   * Reads the gateway's record once more, when the run ended by itself: an agent that exits at the
   * gateway's refusal (before the next poll) ends for money, not for its exit code.
   */
  async settle(): Promise<void> {
    if (this.stopped || !this.readMetered) return;
    try {
      const spend = await this.readMetered();
      if (spend.stop) this.budget(spend.stop);
      this.metered(spend.spentUsd);
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read the metered spend at the end of the run');
    }
  }

  /** Stops watching (the listener, the timer, the polling). Safe to call twice. */
  close(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }
}
