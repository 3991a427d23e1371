import { addTeamCost, errorMessage, isFinalState, revokeGatewayTokens, taskSpend, type Logger, type TaskError, type TaskRecord } from '@agentq/shared';
import { taskError, type DispatchTaskError } from '../dispatch-errors.js';
import { answersOnIssue, remoteBranchCommit, type Octokit } from '../github/pull-request.js';
import { PullRequestPublisher } from '../github/pull-request-publisher.js';
import type { SlotHold } from '../limits/slot-hold.js';
import type { SandboxHandle } from '../providers/sandbox-provider.js';
import { TASK_TAG } from '../sandbox-tags.js';
import { decideOutcome, type FinalState, type OutcomeInput } from './outcome.js';
import type { RunEnd } from './run-end.js';
import { runLimits } from './run-limits.js';
import type { RunnerDeps } from './runner-deps.js';
import type { Followed } from './supervisor.js';

/** How a task's run came to an end, to be recorded. */
export type Ending =
  /** No sandbox was created: the task failed before (or was canceled before it started). */
  | { kind: 'no-sandbox'; task: TaskRecord; startedMs: number; state: 'failed' | 'canceled'; error?: DispatchTaskError }
  /** The task's sandbox was followed until it ended, the task ended elsewhere, or the task was handed over. */
  | { kind: 'followed'; task: TaskRecord; startedMs: number; handle: SandboxHandle; followed: Followed };

export type FinisherDeps = Pick<RunnerDeps, 'config' | 'store' | 'redis' | 'keys' | 'forge' | 'redact' | 'metrics' | 'github'>;

/**
 * Records how a task ended: decides the outcome of its run, releases its sandbox and then its
 * concurrency slot, publishes its pull request (GitHub), moves it to its final state, and counts
 * it (metrics, the team's spending).
 */
export class Finisher {
  constructor(
    private readonly deps: FinisherDeps,
    private readonly log: Logger,
  ) {}

  async finish(ending: Ending, slot: SlotHold): Promise<RunEnd> {
    if (ending.kind === 'no-sandbox') {
      await slot.releaseUnlessRunning();
      return this.withoutSandbox(ending.task, ending.startedMs, ending.state, ending.error);
    }
    const { followed, handle } = ending;
    if (followed.kind === 'handover') {
      // the sandbox runs on, and keeps its slot for the dispatcher that takes the task over
      slot.leave();
      return { kind: 'handover' };
    }
    const log = this.log.child({ sandboxId: handle.id });
    if (followed.kind === 'ended-elsewhere') {
      await this.release(handle, slot, log);
      log.warn({ state: followed.state }, 'task ended elsewhere');
      return { kind: 'skipped', reason: 'task ended elsewhere' };
    }
    // first: the slot goes to the next task while this one's outcome is worked out
    await this.release(handle, slot, log);
    const { task, startedMs } = ending;
    const { facts, status, stopped, budget } = followed;
    const { store, github } = this.deps;
    const meteredUsd = await this.metered(task, log);
    const onGitHub = task.forge === 'github' ? github : undefined;
    const limits = runLimits(task, this.deps.config);
    // the run's own word for its push is not enough (the agent shares its output): the branch is
    // looked up in the forge, or on GitHub
    let forgeCommit: string | undefined;
    let unverified: TaskError | undefined;
    // on GitHub, the token that looks the branch up also opens the pull request
    let octokit: Octokit | undefined;
    if (facts.push?.ok && facts.branch) {
      if (!onGitHub) {
        forgeCommit = await this.deps.forge.branchCommit(task.repo, facts.branch);
      } else {
        try {
          octokit = await onGitHub.app.repoOctokit(task.repo, { issues: answersOnIssue(task) });
          forgeCommit = await remoteBranchCommit(octokit, task.repo, facts.branch);
        } catch (err) {
          unverified = taskError('DISPATCH_GITHUB_API_ERROR', `the push of ${facts.branch} could not be checked on GitHub: ${this.deps.redact(errorMessage(err))}`);
        }
      }
    }
    let outcome = decideOutcome({
      facts,
      status,
      stopped: stoppedFor(stopped, status),
      repo: task.repo,
      baseRef: task.baseRef,
      timeoutSec: limits.timeoutSec,
      maxCostUsd: limits.maxCostUsd,
      meteredUsd,
      budget,
      forgeCommit,
    });
    // a push that could not be checked fails for that reason, not as a push that did not happen
    if (unverified && outcome.update.error?.code === 'DISPATCH_PUSH_FAILED') outcome = { state: 'failed', update: { ...outcome.update, error: unverified } };
    if (onGitHub) outcome = await new PullRequestPublisher(onGitHub, store, this.deps.redact, this.log).publish(task, outcome, facts, octokit);
    const durationMs = Date.now() - startedMs;
    const result = await store.transition(task.id, outcome.state, { ...outcome.update, durationMs });
    if (!result.ok) {
      log.warn({ current: result.current }, 'task ended elsewhere');
      return { kind: 'skipped', reason: 'task ended elsewhere' };
    }
    this.recordFinish(outcome.state, durationMs, outcome.update.error, log);
    await this.chargeTeam(task, outcome.update.costUsd, meteredUsd, log);
    return { kind: 'finished', state: outcome.state };
  }

  private async withoutSandbox(task: TaskRecord, startedMs: number, state: FinalState, error: DispatchTaskError | undefined): Promise<RunEnd> {
    const durationMs = Date.now() - startedMs;
    const recorded = error && { code: error.code, message: this.deps.redact(error.message) };
    // an automatic follow-up that could not start says so on its pull request
    const { github } = this.deps;
    if (task.forge === 'github' && github) {
      await new PullRequestPublisher(github, this.deps.store, this.deps.redact, this.log).reportFollowUp(task, { state, update: { error: recorded } });
    }
    const result = await this.deps.store.transition(task.id, state, { error: recorded, durationMs });
    if (!result.ok) return { kind: 'skipped', reason: `task is ${result.current ?? 'gone'}` };
    this.recordFinish(state, durationMs, recorded, this.log);
    return { kind: 'finished', state };
  }

  /** What the model gateway metered for the task (0 when it metered nothing, or cannot be read). */
  private async metered(task: TaskRecord, log: Logger): Promise<number> {
    try {
      return await taskSpend(this.deps.redis, this.deps.keys, task.id);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'could not read the metered spend of the task');
      return 0;
    }
  }

  /**
   * Adds what the task cost to its team's spending of the day (UTC), which daily caps are checked
   * against: only the part the model gateway did not meter, as the gateway added that part already,
   * call by call.
   */
  private async chargeTeam(task: TaskRecord, costUsd: number | undefined, meteredUsd: number, log: Logger): Promise<void> {
    const unmetered = Math.max(0, (costUsd ?? 0) - meteredUsd);
    if (!(unmetered > 0)) return;
    try {
      await addTeamCost(this.deps.redis, this.deps.keys, task.team, unmetered, new Date());
    } catch (err) {
      log.warn({ err: errorMessage(err), costUsd: unmetered, team: task.team }, 'could not add the task cost to its team');
    }
  }

  /**
   * Terminates the sandbox and frees the task's slot once the provider verified it is gone, then
   * what the sandbox held. Terminating one that ended is a no-op for the provider, but makes sure
   * nothing it started runs on (a `local` program's leftover processes). A sandbox not known gone
   * keeps its slot: its lease runs out, and the slot is reclaimed once the provider says it no
   * longer runs.
   */
  private async release(handle: SandboxHandle, slot: SlotHold, log: Logger): Promise<void> {
    try {
      await handle.terminate();
    } catch (err) {
      slot.leave();
      log.warn({ err: errorMessage(err) }, 'could not make sure the sandbox stopped; its slot is kept');
      return;
    }
    try {
      await slot.release();
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'could not free the concurrency slot');
    }
    try {
      await handle.release();
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'could not release the sandbox');
    }
  }

  private recordFinish(state: FinalState, durationMs: number, error: TaskError | undefined, log: Logger): void {
    const { metrics, redact } = this.deps;
    metrics.tasksFinished.inc({ outcome: state });
    metrics.taskDuration.observe({ outcome: state }, durationMs / 1000);
    const fields = error ? { state, durationMs, code: error.code, reason: redact(error.message) } : { state, durationMs };
    if (state === 'failed' || state === 'timed_out') log.warn(fields, 'task finished');
    else log.info(fields, 'task finished');
  }
}

/**
 * What the dispatcher's stop says about a run: a run that ended by itself before a cancel or the
 * time limit took effect is judged by what it did; one that went over its spending limit failed
 * however it ended.
 */
function stoppedFor(stopped: Extract<Followed, { kind: 'ended' }>['stopped'], status: OutcomeInput['status']): OutcomeInput['stopped'] {
  if (stopped === 'budget') return 'budget';
  return stopped !== undefined && status.state !== 'exited' ? stopped : undefined;
}

/**
 * Ends a task that could not be run at all (its job failed for good): terminates its sandbox if
 * there is one, frees its concurrency slot once no sandbox of it runs, and records the failure.
 * Best effort.
 */
export async function abandonTask(
  deps: Pick<RunnerDeps, 'store' | 'provider' | 'redact' | 'metrics' | 'slots' | 'redis' | 'keys'>,
  taskId: string,
  error: DispatchTaskError,
): Promise<void> {
  const task = await deps.store.get(taskId);
  if (!task || isFinalState(task.state)) return;
  const sandboxId = task.sandboxId ?? (await deps.provider.list({ [TASK_TAG]: taskId }).catch(() => []))[0]?.id;
  let gone = true;
  if (sandboxId) {
    const handle = await deps.provider.attach(sandboxId).catch(() => undefined);
    gone = await (handle?.terminate() ?? Promise.resolve()).then(() => true, () => false);
    await handle?.release().catch(() => undefined);
  }
  await revokeGatewayTokens(deps.redis, deps.keys, taskId).catch(() => undefined);
  await deps.slots.forget(taskId);
  if (gone) await deps.slots.release(taskId);
  await deps.store.transition(taskId, 'failed', { error: { code: error.code, message: deps.redact(error.message) } });
  deps.metrics.tasksFinished.inc({ outcome: 'failed' });
}
