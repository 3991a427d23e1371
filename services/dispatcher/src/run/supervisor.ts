import { errorMessage, type BudgetStop, type Logger, type TaskRecord, type TaskState } from '@agentq/shared';
import type { Harness } from '../harnesses/harness.js';
import type { SandboxHandle, SandboxStatus } from '../providers/sandbox-provider.js';
import { BATCH_EVENTS, EventSink } from './event-sink.js';
import { readMeteredSpend } from './metered-spend.js';
import { OutputReader, type RunFacts } from './output-reader.js';
import { runLimits } from './run-limits.js';
import type { RunnerDeps } from './runner-deps.js';
import { StopController, type StopReason } from './stop-controller.js';

/** How long the record goes unchecked for a cancel request by default. */
const CANCEL_POLL_MS = 1000;

/** A sandbox to follow, and from where. */
export interface FollowedRun {
  task: TaskRecord;
  handle: SandboxHandle;
  harness: Harness;
  /** Lines up to this one have their events written already (by an earlier dispatcher). */
  afterLine: number;
  /** When the task started (epoch milliseconds): its time limit counts from then. */
  startedMs: number;
}

/** How following a sandbox ended. */
export type Followed =
  /** The dispatcher is shutting down: the sandbox runs on, another dispatcher continues. */
  | { kind: 'handover' }
  /** The task turned final elsewhere (or vanished) while it ran: nothing more is to be recorded. */
  | { kind: 'ended-elsewhere'; state: TaskState }
  /**
   * The sandbox no longer runs: it ended by itself, or was stopped for `stopped` (for `budget`,
   * `budget` says which limit: the task's, or its team's day).
   */
  | { kind: 'ended'; facts: RunFacts; status: SandboxStatus; stopped: Exclude<StopReason, 'final'> | undefined; budget?: BudgetStop };

export type SupervisorDeps = Pick<RunnerDeps, 'config' | 'store' | 'redis' | 'keys' | 'secrets' | 'cancels' | 'handover' | 'cancelPollMs' | 'metrics'>;

/**
 * Follows a task's sandbox: turns its output into the task's events and phases, and stops it when
 * the task is canceled, runs out of time or money (what the agent reports, what the model gateway
 * metered, or the gateway's refusal of a call for money), or turns final elsewhere.
 */
export class RunSupervisor {
  constructor(
    private readonly deps: SupervisorDeps,
    private readonly log: Logger,
  ) {}

  /**
   * Reads the sandbox's output from the start, writing the events of lines after `afterLine`, until
   * the sandbox ends, is stopped, or the dispatcher hands the task over.
   */
  async follow(run: FollowedRun): Promise<Followed> {
    const { store, handover } = this.deps;
    const { task, handle, harness } = run;
    const log = this.log.child({ sandboxId: handle.id });
    const reader = new OutputReader(harness.createParser(), this.deps.secrets, harness.name);
    const sink = new EventSink(store, task.id, task.state);
    const limits = runLimits(task, this.deps.config);
    const stops = StopController.watch({
      taskId: task.id,
      cancels: this.deps.cancels,
      store,
      pollMs: this.deps.cancelPollMs ?? CANCEL_POLL_MS,
      deadlineMs: run.startedMs + limits.timeoutSec * 1000,
      maxCostUsd: limits.maxCostUsd,
      metered: () => readMeteredSpend(this.deps.redis, this.deps.keys, task.id),
      log,
    });
    let terminating: Promise<void> | undefined;
    stops.onStop(() => {
      terminating = handle.terminate().catch((err: unknown) => {
        log.error({ err: errorMessage(err) }, 'sandbox did not stop');
      });
    });
    if (task.cancelRequested) stops.stop('cancel');

    try {
      for await (const chunk of handle.output(0, handover)) {
        for (const line of chunk) {
          sink.add(reader.read(line).filter((e) => (e.line ?? 0) > run.afterLine));
          stops.cost(reader.facts.costUsd);
          if (sink.size >= BATCH_EVENTS && !(await sink.flush())) stops.stop('final');
          if (!(await sink.advance(reader.phase()))) stops.stop('final');
        }
        if (!(await sink.flush())) stops.stop('final');
      }
      if (handover.aborted) {
        await sink.flush();
        this.deps.metrics.handedOver.inc();
        log.info('task handed over');
        return { kind: 'handover' };
      }
      sink.add(reader.finish().filter((e) => (e.line ?? 0) > run.afterLine));
      await stops.settle();
    } finally {
      stops.close();
    }

    await terminating;
    const status = await handle.status();
    const reason = stops.reason;
    if (!(await sink.flush()) || reason === 'final') return { kind: 'ended-elsewhere', state: sink.state };
    return { kind: 'ended', facts: reader.facts, status, stopped: reason, budget: stops.budgetReason };
  }
}
