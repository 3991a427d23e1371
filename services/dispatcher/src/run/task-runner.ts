import { isFinalState, type Logger, type TaskRecord } from '@agentq/shared';
import { taskError } from '../dispatch-errors.js';
import { GitHubRun } from '../github/github-run.js';
import { Finisher, type Ending } from './finisher.js';
import { Launcher, type NotStarted, type Started } from './launcher.js';
import type { RunEnd } from './run-end.js';
import type { RunnerDeps } from './runner-deps.js';
import { RunSupervisor } from './supervisor.js';

/** Whether the task runs now: yes (`fresh`: this run moved it out of the queue), or not, and why. */
type Admission = { kind: 'admitted'; task: TaskRecord; fresh: boolean } | { kind: 'not-now'; end: RunEnd };

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

  constructor(
    private readonly deps: RunnerDeps,
    private readonly taskId: string,
  ) {
    this.log = deps.logger.child({ taskId });
    this.launcher = new Launcher(deps, this.log);
    this.supervisor = new RunSupervisor(deps, this.log);
    this.finisher = new Finisher(deps, this.log);
  }

  async run(): Promise<RunEnd> {
    const admitted = await this.admit();
    if (admitted.kind === 'not-now') return admitted.end;
    const { task, fresh } = admitted;
    const startedMs = task.startedAt ? Date.parse(task.startedAt) : this.createdMs;
    // the run's GitHub installation tokens (used when the task's repository is on GitHub) live
    // until the run has ended, and are forgotten before its end is recorded
    const github = this.deps.github && new GitHubRun(this.deps.github, this.deps.secrets, task, this.log);
    let ending: Ending;
    try {
      ending = await this.runSandbox(task, fresh, startedMs, github);
    } finally {
      await github?.stop();
    }
    return this.finisher.finish(ending);
  }

  /** Admits a queued task (once the tasks it must follow have ended), or one an earlier run started. */
  private async admit(): Promise<Admission> {
    const { store } = this.deps;
    const task = await store.get(this.taskId);
    if (!task) return { kind: 'not-now', end: { kind: 'skipped', reason: 'unknown task' } };
    if (isFinalState(task.state)) return { kind: 'not-now', end: { kind: 'skipped', reason: `task is ${task.state}` } };
    if (task.state !== 'queued') return { kind: 'admitted', task, fresh: false };
    const predecessor = await this.unfinishedPredecessor(task);
    if (predecessor) {
      await this.noteWaiting(task, predecessor);
      return { kind: 'not-now', end: { kind: 'waiting', on: predecessor } };
    }
    const result = await store.transition(this.taskId, 'starting', { startedAt: new Date().toISOString() });
    if (!result.ok && (result.current === undefined || isFinalState(result.current))) {
      return { kind: 'not-now', end: { kind: 'skipped', reason: `task is ${result.current ?? 'gone'}` } };
    }
    // not moved by this run: another one did, and may have created its sandbox
    return { kind: 'admitted', task: await store.require(this.taskId), fresh: result.ok };
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

  /** Says once, in the task's events, what it waits for. */
  private async noteWaiting(task: TaskRecord, predecessor: string): Promise<void> {
    const text = `waiting for task ${predecessor} to end`;
    const events = await this.deps.store.readEvents(task.id, 0, 100);
    if (events.some((e) => e.kind === 'log' && e.text === text)) return;
    await this.deps.store.append(task.id, [{ kind: 'log', stream: 'system', text }]);
    this.log.info({ after: predecessor }, 'task waits for another task');
  }

  /** Gives the task its sandbox and follows it; says how the run ended. */
  private async runSandbox(task: TaskRecord, fresh: boolean, startedMs: number, github: GitHubRun | undefined): Promise<Ending> {
    const started = await this.sandboxFor(task, fresh, github);
    if (started.kind === 'failed') return { kind: 'no-sandbox', task: started.task, startedMs, state: 'failed', error: started.error };
    if (started.kind === 'canceled') return { kind: 'no-sandbox', task: started.task, startedMs, state: 'canceled' };
    const { handle } = started;
    if (started.task.forge === 'github') github?.keepTokenFresh(handle);
    const followed = await this.supervisor.follow({ ...started, startedMs });
    return { kind: 'followed', task: started.task, startedMs, handle, followed };
  }

  /** The sandbox of the task: the one it has (after a restart), else a new one. */
  private async sandboxFor(task: TaskRecord, fresh: boolean, github: GitHubRun | undefined): Promise<Started | NotStarted> {
    if (!fresh) {
      const found = await this.launcher.reattach(task, github);
      if (found.kind !== 'missing') return found;
      // no sandbox was ever created for it: starting one now cannot make a second
      if (task.state !== 'starting') return this.lost(task);
    }
    const launched = await this.launcher.launch(task, github);
    if (launched.kind !== 'exists') return launched;
    const found = await this.launcher.reattach(launched.task, github);
    return found.kind === 'missing' ? this.lost(found.task) : found;
  }

  private lost(task: TaskRecord): NotStarted {
    return { kind: 'failed', task, error: taskError('DISPATCH_SANDBOX_LOST', 'the sandbox of this task cannot be found') };
  }
}
