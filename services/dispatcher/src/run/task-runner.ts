import { isFinalState, type Logger, type TaskRecord } from '@agentq/shared';
import { taskError } from '../dispatch-errors.js';
import { GitHubRun } from '../github/github-run.js';
import { SlotHold } from '../limits/slot-hold.js';
import { Finisher, type Ending } from './finisher.js';
import { RunGatewayToken } from './gateway-token.js';
import { Launcher, type NotStarted, type Started } from './launcher.js';
import type { RunEnd } from './run-end.js';
import type { RunnerDeps } from './runner-deps.js';
import { RunSupervisor } from './supervisor.js';
import { WaitingNotes, type WaitNow } from './waiting-notes.js';

/**
 * Whether the task runs now: yes (`fresh`: this run moved it out of the queue), with its hold on
 * a concurrency slot, or not, and why.
 */
type Admission = { kind: 'admitted'; task: TaskRecord; fresh: boolean; slot: SlotHold } | { kind: 'not-now'; end: RunEnd };

/** The task cannot get a sandbox yet: it waits for a slot. */
interface MustWait {
  kind: 'wait';
  task: TaskRecord;
  waiting: WaitNow;
}

/**
 * Runs one task: admits it, gives it its sandbox (a new one, or the one it has), follows the
 * sandbox, and records how the task ended.
 */
export class TaskRunner {
  private readonly log: Logger;
  /** When this run began: the task's start for one that has none on its record. */
  private readonly createdMs = Date.now();
  private readonly launcher: Launcher;
  private readonly supervisor: RunSupervisor;
  private readonly finisher: Finisher;
  private readonly notes: WaitingNotes;
  private readonly gatewayToken: RunGatewayToken;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly taskId: string,
  ) {
    this.log = deps.logger.child({ taskId });
    this.gatewayToken = new RunGatewayToken(deps, this.log);
    this.launcher = new Launcher(deps, this.log, this.gatewayToken);
    this.supervisor = new RunSupervisor(deps, this.log);
    this.finisher = new Finisher(deps, this.log);
    this.notes = new WaitingNotes(deps, this.log);
  }

  async run(): Promise<RunEnd> {
    const admitted = await this.admit();
    if (admitted.kind === 'not-now') return admitted.end;
    const { task, fresh, slot } = admitted;
    try {
      const startedMs = task.startedAt ? Date.parse(task.startedAt) : this.createdMs;
      // the run's GitHub installation tokens (used when the task's repository is on GitHub) live
      // until the run has ended, and are forgotten before its end is recorded
      const github = this.deps.github && new GitHubRun(this.deps.github, this.deps.secrets, task, this.log);
      let ending: Ending | MustWait;
      try {
        ending = await this.runSandbox(task, fresh, startedMs, github, slot);
      } finally {
        await github?.stop();
      }
      // the task's model calls end with its run, however it ended; a sandbox handed over keeps its token
      if (!(ending.kind === 'followed' && ending.followed.kind === 'handover')) await this.gatewayToken.revoke(task.id);
      if (ending.kind === 'wait') return await this.waitFor(ending.task, ending.waiting);
      return await this.finisher.finish(ending, slot);
    } finally {
      // this run renews the slot no more: it was freed, or it stays with the task until its
      // sandbox is known gone (an error, a hand-over) and a dispatcher takes the task over
      slot.leave();
      this.gatewayToken.forget();
    }
  }

  /**
   * Admits a queued task once the tasks it must follow have ended and a concurrency slot is its,
   * or one an earlier run started.
   */
  private async admit(): Promise<Admission> {
    const { store, slots } = this.deps;
    const task = await store.get(this.taskId);
    if (!task || isFinalState(task.state)) {
      // out of line (a slot set aside for it goes to the next task); it waits no more
      await slots.forget(this.taskId);
      if (task) await this.notes.done(task);
      return { kind: 'not-now', end: { kind: 'skipped', reason: task ? `task is ${task.state}` : 'unknown task' } };
    }
    const slot = new SlotHold(this.deps, task, this.log);
    if (task.state !== 'queued') return { kind: 'admitted', task, fresh: false, slot };
    const predecessor = await this.unfinishedPredecessor(task);
    if (predecessor) return { kind: 'not-now', end: await this.waitFor(task, { reason: 'predecessor', on: predecessor }) };
    const got = await slot.acquire();
    if (!got.granted) return { kind: 'not-now', end: await this.waitFor(task, { reason: got.reason, position: got.position }) };
    try {
      await this.notes.done(task);
      const result = await store.transition(this.taskId, 'starting', { startedAt: new Date().toISOString() });
      if (!result.ok && (result.current === undefined || isFinalState(result.current))) {
        // canceled meanwhile: no sandbox was created
        await slot.release();
        return { kind: 'not-now', end: { kind: 'skipped', reason: `task is ${result.current ?? 'gone'}` } };
      }
      // not moved by this run: another one did, and may have created its sandbox
      slot.fresh = result.ok;
      return { kind: 'admitted', task: await store.require(this.taskId), fresh: result.ok, slot };
    } catch (err) {
      // the slot stays with the task (its next attempt keeps it), unrenewed: it lapses if none comes
      slot.leave();
      throw err;
    }
  }

  private async waitFor(task: TaskRecord, waiting: WaitNow): Promise<RunEnd> {
    await this.notes.waiting(task, waiting);
    return { kind: 'waiting', reason: waiting.reason, on: waiting.on };
  }

  /**
   * A task that must end before this one starts and has not yet: `after`, and the task a follow-up
   * continues (its branch and session are in use until it ends). One that does not exist is no obstacle.
   */
  private async unfinishedPredecessor(task: TaskRecord): Promise<string | undefined> {
    for (const id of new Set([task.after, task.followUpOf])) {
      if (id === undefined || id === task.id) continue;
      const other = await this.deps.store.get(id);
      if (other && !isFinalState(other.state)) return id;
    }
    return undefined;
  }

  /** Gives the task its sandbox and follows it; says how the run ended. */
  private async runSandbox(
    task: TaskRecord,
    fresh: boolean,
    startedMs: number,
    github: GitHubRun | undefined,
    slot: SlotHold,
  ): Promise<Ending | MustWait> {
    const started = await this.sandboxFor(task, fresh, github, slot);
    if (started.kind === 'wait') return started;
    if (started.kind === 'failed') return { kind: 'no-sandbox', task: started.task, startedMs, state: 'failed', error: started.error };
    if (started.kind === 'canceled') return { kind: 'no-sandbox', task: started.task, startedMs, state: 'canceled' };
    const { handle } = started;
    if (started.task.forge === 'github') github?.keepTokenFresh(handle);
    const live = this.deps.metrics.sandboxesLive.labels({ provider: this.deps.provider.name });
    live.inc();
    try {
      const followed = await this.supervisor.follow({ ...started, startedMs });
      return { kind: 'followed', task: started.task, startedMs, handle, followed };
    } finally {
      live.dec();
    }
  }

  /**
   * The sandbox of the task: the one it has (after a restart), whose slot it keeps; else a new
   * one, for which it needs a slot.
   */
  private async sandboxFor(task: TaskRecord, fresh: boolean, github: GitHubRun | undefined, slot: SlotHold): Promise<Started | NotStarted | MustWait> {
    if (!fresh) {
      const found = await this.attached(task, github, slot);
      if (found.kind !== 'missing') return found;
      // no sandbox was ever created for it: starting one now cannot make a second
      if (task.state !== 'starting') return this.lost(task);
      const got = await slot.acquire();
      if (!got.granted) return { kind: 'wait', task, waiting: { reason: got.reason, position: got.position } };
      await this.notes.done(task);
    }
    const confirm = () => slot.confirm();
    let launched = await this.launcher.launch(task, github, confirm);
    if (launched.kind === 'no-slot') {
      // its slot was reclaimed (this dispatcher stalled longer than a lease): it takes its turn again
      const got = await slot.acquire();
      if (!got.granted) return { kind: 'wait', task: launched.task, waiting: { reason: got.reason, position: got.position } };
      launched = await this.launcher.launch(launched.task, github, confirm);
      if (launched.kind === 'no-slot') throw new Error('the concurrency slot of this task keeps lapsing before its sandbox is created');
    }
    if (launched.kind !== 'exists') return launched;
    const found = await this.attached(launched.task, github, slot);
    return found.kind === 'missing' ? this.lost(found.task) : found;
  }

  /** Re-attaches to the task's sandbox, keeping its slot. */
  private async attached(task: TaskRecord, github: GitHubRun | undefined, slot: SlotHold): ReturnType<Launcher['reattach']> {
    const found = await this.launcher.reattach(task, github);
    if (found.kind === 'started') {
      await slot.keepFor(found.handle);
      await this.notes.done(found.task);
    }
    return found;
  }

  private lost(task: TaskRecord): NotStarted {
    return { kind: 'failed', task, error: taskError('DISPATCH_SANDBOX_LOST', 'the sandbox of this task cannot be found') };
  }
}
