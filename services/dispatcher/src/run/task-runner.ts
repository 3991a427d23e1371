import type { Redis } from 'ioredis';
import {
  AgentqError,
  addTeamCost,
  branchName,
  decodeStreamEntries,
  errorMessage,
  isFinalState,
  REPO_CONFIG_INVALID,
  type Config,
  type LocalForge,
  type Logger,
  type Redact,
  type RedisKeys,
  type TaskError,
  type TaskRecord,
  type TaskStore,
  type TaskUpdate,
} from '@agentq/shared';
import type { CancelListener } from '../cancel-listener.js';
import { GitHubRun, type GitHubDeps } from '../github/github-run.js';
import type { RuntimeSecrets } from '../runtime-secrets.js';
import type { DispatcherMetrics } from '../dispatcher-metrics.js';
import type { Harness, HarnessCommand } from '../harnesses/harness.js';
import { harnessFor } from '../harnesses/registry.js';
import type { SandboxHandle, SandboxInheritance, SandboxProvider, SandboxStatus } from '../providers/sandbox-provider.js';
import { EventSink, BATCH_EVENTS } from './event-sink.js';
import { decideOutcome, type FinalState } from './outcome.js';
import { OutputReader } from './output-reader.js';
import { RepoConfigSource, describeRepoConfig, type LoadedRepoConfig } from './repo-config-source.js';
import { GIT_TOKEN_FILE, SAFE_BRANCH, runCommand, runEnvironment } from './run-script.js';

export interface RunnerDeps {
  config: Config;
  redis: Redis;
  keys: RedisKeys;
  store: TaskStore;
  provider: SandboxProvider;
  forge: LocalForge;
  redact: Redact;
  /** The redactor behind `redact`: secrets of running tasks (installation tokens) are added to it. */
  secrets: RuntimeSecrets;
  /** Set when a GitHub App is configured: repositories not in the local forge go through GitHub. */
  github?: GitHubDeps;
  logger: Logger;
  metrics: DispatcherMetrics;
  cancels: CancelListener;
  /** Aborted when the dispatcher shuts down: running tasks are handed over, their sandboxes left running. */
  handover: AbortSignal;
  /** How often the record is checked for a cancel request. */
  cancelPollMs?: number;
}

export type RunEnd =
  | { kind: 'finished'; state: FinalState }
  /** The dispatcher is shutting down; the sandbox runs on and another dispatcher continues. */
  | { kind: 'handover' }
  /** Nothing to do: the task is unknown, final already, or was canceled before it started. */
  | { kind: 'skipped'; reason: string }
  /** Not yet: the task must not start before this other task has ended. It stays queued. */
  | { kind: 'waiting'; on: string };

/** How a task's run starts: which branch, from where, and which agent session it resumes. */
interface RunPlan {
  branch: string;
  /** The branch exists (a follow-up continues its parent's branch). */
  continueBranch: boolean;
  baseRef: string | undefined;
  resumeSessionId?: string;
  /** The earlier sandbox holding the session files, and which. */
  inherit?: SandboxInheritance;
  /** Said in log events before the sandbox starts (what is continued, what could not be). */
  notes: string[];
  /** The pull request the run works on (a follow-up of a task that opened one, a task from a PR): no new one is opened. */
  pull?: { number: number; url?: string };
  /** The task a follow-up continues, when it exists (its session may be resumed). */
  parent?: TaskRecord;
}

type StopReason = 'cancel' | 'timeout' | 'budget' | 'final';

/** How much longer than its task's time limit a sandbox may live (see `SandboxSpec.timeoutMs`). */
const SANDBOX_TIMEOUT_MARGIN_SEC = 600;

/** The task tag every sandbox carries, to find it again after a crash. */
export const TASK_TAG = 'agentq_task';
/** The tag naming the deployment (its Redis prefix) a sandbox belongs to: the sweeper looks at its own only. */
export const DEPLOYMENT_TAG = 'agentq_deployment';

/** Highest output line already written to the task's stream (0 when none). */
export async function lastWrittenLine(redis: Redis, keys: RedisKeys, taskId: string): Promise<number> {
  let end = '+';
  for (;;) {
    const entries = (await redis.xrevrange(keys.events(taskId), end, '-', 'COUNT', 200)) as [string, string[]][];
    if (entries.length === 0) return 0;
    for (const event of decodeStreamEntries(entries)) {
      if (event.line !== undefined) return event.line;
    }
    end = `(${entries[entries.length - 1]?.[0] ?? '0-0'}`;
  }
}

/** Runs one task: starts (or re-attaches to) its sandbox, streams its events, and records the outcome. */
export class TaskRunner {
  private readonly log: Logger;
  private readonly startedMs = Date.now();

  constructor(
    private readonly deps: RunnerDeps,
    private readonly taskId: string,
  ) {
    this.log = deps.logger.child({ taskId });
  }

  async run(): Promise<RunEnd> {
    const { store } = this.deps;
    let task = await store.get(this.taskId);
    if (!task) return { kind: 'skipped', reason: 'unknown task' };
    if (isFinalState(task.state)) return { kind: 'skipped', reason: `task is ${task.state}` };
    if (task.state === 'queued') {
      const predecessor = await this.unfinishedPredecessor(task);
      if (predecessor) {
        await this.noteWaiting(task, predecessor);
        return { kind: 'waiting', on: predecessor };
      }
      const result = await store.transition(this.taskId, 'starting', { startedAt: new Date().toISOString() });
      if (!result.ok) {
        if (result.current === undefined || isFinalState(result.current)) {
          return { kind: 'skipped', reason: `task is ${result.current ?? 'gone'}` };
        }
        task = await store.require(this.taskId);
        return this.resume(task);
      }
      task = await store.require(this.taskId);
      return this.launch(task);
    }
    return this.resume(task);
  }

  private harnessOf(task: TaskRecord): Harness | undefined {
    return harnessFor(task.harness ?? this.deps.config.harness);
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

  /**
   * The branch of a run. A follow-up continues its parent's branch when the parent pushed one (else
   * it starts a new branch from the parent's base); `planSession` then decides on its session.
   */
  private async planRun(task: TaskRecord): Promise<RunPlan> {
    const { store } = this.deps;
    const plan: RunPlan = { branch: branchName(task.id, task.prompt), continueBranch: false, baseRef: task.baseRef, notes: [] };
    const fromPull = task.github?.isPullRequest ? task.github.issueNumber : undefined;
    if (fromPull !== undefined && task.baseRef && SAFE_BRANCH.test(task.baseRef) && !task.followUpOf) {
      plan.branch = task.baseRef;
      plan.continueBranch = true;
      plan.pull = { number: fromPull };
      plan.notes.push(`working on branch ${task.baseRef} of pull request #${fromPull}`);
      return plan;
    }
    if (!task.followUpOf) return plan;
    const parent = await store.get(task.followUpOf);
    if (!parent) {
      plan.notes.push(`task ${task.followUpOf} to follow up does not exist; running as a new task on branch ${plan.branch}`);
      return plan;
    }
    const parentBranch = parent.branch;
    const branchThere =
      parentBranch !== undefined &&
      parent.repo === task.repo &&
      SAFE_BRANCH.test(parentBranch) &&
      (await this.branchExists(task, parent, parentBranch));
    if (branchThere) {
      plan.branch = parentBranch;
      plan.continueBranch = true;
      if (parent.prNumber !== undefined) plan.pull = { number: parent.prNumber, url: parent.prUrl };
      plan.notes.push(`continuing branch ${parentBranch} of task ${parent.id}`);
    } else {
      plan.baseRef = task.baseRef ?? (parent.repo === task.repo ? parent.baseRef : undefined);
      const from = plan.baseRef ?? 'the default branch';
      const why = parentBranch
        ? `branch ${parentBranch} of task ${parent.id} is not in ${task.repo}`
        : `task ${parent.id} has no branch (it pushed no changes)`;
      plan.notes.push(`${why}; starting from ${from} on a new branch ${plan.branch}`);
    }
    plan.parent = parent;
    return plan;
  }

  /**
   * The session of a follow-up's run: it resumes the parent's agent session when the parent had
   * one, with the same harness, in a sandbox of this provider.
   */
  private planSession(plan: RunPlan, harness: Harness): void {
    const { config, provider } = this.deps;
    const parent = plan.parent;
    if (!parent) return;
    const parentHarness = parent.harness ?? config.harness;
    if (!parent.sessionId) {
      plan.notes.push(`task ${parent.id} has no agent session to resume; the agent starts a new one`);
    } else if (parentHarness !== harness.name) {
      plan.notes.push(`task ${parent.id} ran the ${parentHarness} harness, whose session ${harness.name} cannot resume; the agent starts a new one`);
    } else if (!parent.sandboxId || (parent.provider ?? provider.name) !== provider.name) {
      plan.notes.push(`the sandbox of task ${parent.id} is not available; the agent starts a new session`);
    } else {
      plan.resumeSessionId = parent.sessionId;
      plan.inherit = { sandboxId: parent.sandboxId, homePaths: harness.sessionFiles };
    }
  }

  /**
   * Is the parent's branch there to continue? The local forge is looked at; on GitHub the branch a
   * task pushed is taken to be there (a run that does not find it fails with DISPATCH_BRANCH_NOT_FOUND).
   */
  private async branchExists(task: TaskRecord, parent: TaskRecord, branch: string): Promise<boolean> {
    if (this.forgeOf(task) === 'github') return parent.forge === 'github';
    return (await this.deps.forge.branchCommit(task.repo, branch)) !== undefined;
  }

  /** Where a task's repository lives: the local forge first, else GitHub when an App is configured. */
  private forgeOf(task: TaskRecord): 'local' | 'github' | undefined {
    if (task.forge === 'github' && this.deps.github) return 'github';
    if (this.deps.forge.has(task.repo)) return 'local';
    return this.deps.github ? 'github' : undefined;
  }

  private commandFor(task: TaskRecord, harness: Harness, resumeSessionId: string | undefined): HarnessCommand {
    const { config } = this.deps;
    return harness.command({
      taskId: task.id,
      prompt: task.prompt,
      model: task.model,
      maxTurns: task.limits?.maxTurns ?? config.maxTurns,
      maxCostUsd: task.limits?.maxCostUsd,
      resumeSessionId,
      config,
    });
  }

  /** Creates the sandbox of a task that has none. */
  private async launch(launched: TaskRecord): Promise<RunEnd> {
    let task = launched;
    const { config, forge, provider, store } = this.deps;
    const forgeKind = this.forgeOf(task);
    if (!forgeKind) {
      return this.fail(task, 'DISPATCH_UNKNOWN_REPO', `repository ${task.repo} does not exist in the local forge`);
    }
    if (forgeKind === 'local' && provider.name !== 'local') {
      return this.fail(
        task,
        'DISPATCH_FORGE_UNREACHABLE',
        `repository ${task.repo} is in the local forge on the dispatcher's disk, which ${provider.name} sandboxes cannot reach; use the local provider, or a GitHub App`,
      );
    }
    if (task.forge !== forgeKind) {
      await store.update(task.id, { forge: forgeKind });
      task = { ...task, forge: forgeKind };
    }
    if (task.cancelRequested) return this.finishWithoutSandbox(task, 'canceled');
    const plan = await this.planRun(task);
    const { branch } = plan;
    if (!SAFE_BRANCH.test(branch)) return this.fail(task, 'DISPATCH_INTERNAL', 'could not derive a branch name');
    if (plan.pull) {
      await store.update(task.id, { prNumber: plan.pull.number, prUrl: plan.pull.url });
      task = { ...task, prNumber: plan.pull.number, prUrl: plan.pull.url ?? task.prUrl };
    }
    let gh: GitHubRun | undefined;
    let access: Awaited<ReturnType<GitHubRun['prepare']>> | undefined;
    if (forgeKind === 'github' && this.deps.github) {
      gh = new GitHubRun(this.deps.github, this.deps.secrets, task, this.log);
      try {
        access = await gh.prepare();
      } catch (err) {
        await gh.stop();
        if (err instanceof AgentqError) return this.fail(task, err.code, err.message);
        throw err;
      }
    }
    // the repository's settings, at the ref the run starts from; nothing is created when they are invalid
    const configRef = plan.continueBranch ? plan.branch : plan.baseRef;
    let repoConfig: LoadedRepoConfig | undefined;
    try {
      repoConfig = await new RepoConfigSource({ forge, github: this.deps.github?.app }).load({
        repo: task.repo,
        forge: forgeKind,
        ref: configRef,
        token: access?.files[GIT_TOKEN_FILE],
      });
    } catch (err) {
      await gh?.stop();
      if (!(err instanceof AgentqError)) throw err;
      if (err.code === REPO_CONFIG_INVALID) await store.append(task.id, [{ kind: 'log', stream: 'system', text: err.message }]);
      return this.fail(task, err.code, err.message);
    }
    const file = repoConfig?.config;
    if (repoConfig) plan.notes.push(describeRepoConfig(repoConfig, task, configRef));
    // the task's own values win over the repository's, which win over the service's; they are
    // persisted, so a dispatcher that re-attaches to the sandbox uses the same harness
    const harnessName = task.harness ?? file?.harness ?? config.harness;
    const harness = harnessFor(harnessName);
    if (!harness) {
      await gh?.stop();
      return this.fail(task, 'DISPATCH_UNKNOWN_HARNESS', `unknown harness ${JSON.stringify(harnessName)}`);
    }
    const resolved: TaskUpdate = {
      harness: harnessName,
      model: task.model ?? file?.model,
      limits: task.limits?.maxTurns === undefined && file?.maxTurns !== undefined ? { ...task.limits, maxTurns: file.maxTurns } : task.limits,
    };
    await store.update(task.id, resolved);
    task = { ...task, ...resolved };
    this.planSession(plan, harness);
    const runEnv = runEnvironment({
      taskId: task.id,
      repoUrl: access?.cloneUrl ?? forge.url(task.repo),
      baseRef: plan.baseRef,
      branch,
      continueBranch: plan.continueBranch,
      prompt: task.prompt,
      gitAuthorName: access?.author.name ?? config.gitAuthorName,
      gitAuthorEmail: access?.author.email ?? config.gitAuthorEmail,
      coAuthors: access?.coAuthors,
      setup: file?.setup,
    });
    const notes = plan.notes.map((text) => ({ kind: 'log' as const, stream: 'system' as const, text }));
    await store.append(task.id, [...notes, { kind: 'step', step: 'sandbox' }]);
    const create = (resumeSessionId: string | undefined, inherit: SandboxInheritance | undefined) => {
      const command = this.commandFor(task, harness, resumeSessionId);
      return provider.create({
        taskId: task.id,
        command: runCommand(command.argv),
        env: { ...command.env, ...runEnv, ...access?.env },
        secrets: config.sandboxSecrets,
        tags: { [TASK_TAG]: task.id, [DEPLOYMENT_TAG]: config.redisPrefix },
        inherit,
        files: access?.files,
        image: file?.image,
        allowedDomains: file?.allowedDomains,
        // past the task's own limit (which the dispatcher enforces) plus a margin, a provider that
        // can end sandboxes by itself does, should no dispatcher be left to
        timeoutMs: ((task.limits?.timeoutSec ?? config.taskTimeoutSec) + SANDBOX_TIMEOUT_MARGIN_SEC) * 1000,
      });
    };
    let handle: SandboxHandle;
    try {
      try {
        handle = await create(plan.resumeSessionId, plan.inherit);
        if (plan.resumeSessionId) {
          const text = `resuming agent session ${plan.resumeSessionId} of task ${task.followUpOf ?? ''}`;
          await store.append(task.id, [{ kind: 'log', stream: 'system', text }]);
        }
      } catch (err) {
        if (!(err instanceof AgentqError && err.code === 'DISPATCH_INHERIT_UNAVAILABLE')) throw err;
        // the earlier sandbox is gone (or kept no session files): a new session is all there can be
        const text = `the session files of task ${task.followUpOf ?? ''} are gone; the agent starts a new session`;
        await store.append(task.id, [{ kind: 'log', stream: 'system', text }]);
        this.log.warn({ followUpOf: task.followUpOf, err: err.message }, 'agent session cannot be resumed');
        handle = await create(undefined, undefined);
      }
    } catch (err) {
      await gh?.stop();
      if (err instanceof AgentqError && err.code === 'DISPATCH_SANDBOX_EXISTS') return this.resume(task);
      // the engine or service is unreachable or overloaded: the job is tried again later
      if (err instanceof AgentqError && err.code !== 'DISPATCH_PROVIDER_UNAVAILABLE') return this.fail(task, err.code, err.message);
      throw err;
    }
    await store.update(task.id, { provider: provider.name, sandboxId: handle.id });
    this.deps.metrics.tasksStarted.inc({ harness: harness.name });
    this.log.info(
      { repo: task.repo, harness: harness.name, sandboxId: handle.id, branch, followUpOf: task.followUpOf, continueBranch: plan.continueBranch },
      'sandbox created',
    );
    return this.follow(task, handle, harness, 0, gh);
  }

  /** Continues a task an earlier run (or dispatcher) started. */
  private async resume(task: TaskRecord): Promise<RunEnd> {
    const { provider, store } = this.deps;
    const harness = this.harnessOf(task);
    if (!harness) return this.fail(task, 'DISPATCH_UNKNOWN_HARNESS', `unknown harness ${JSON.stringify(task.harness)}`);
    let sandboxId = task.sandboxId;
    if (!sandboxId) {
      const found = await provider.list({ [TASK_TAG]: task.id });
      sandboxId = found[0]?.id;
    }
    if (!sandboxId) {
      // no sandbox was ever created for it: starting one now cannot make a second
      if (task.state === 'starting') return this.launch(task);
      return this.fail(task, 'DISPATCH_SANDBOX_LOST', 'the sandbox of this task cannot be found');
    }
    const handle = await provider.attach(sandboxId);
    if (!handle) return this.fail(task, 'DISPATCH_SANDBOX_LOST', `sandbox ${sandboxId} no longer exists`);
    if (!task.sandboxId) await store.update(task.id, { provider: provider.name, sandboxId });
    let gh: GitHubRun | undefined;
    if (task.forge === 'github' && this.deps.github) {
      gh = new GitHubRun(this.deps.github, this.deps.secrets, task, this.log);
      await gh.adopt(handle);
    }
    const afterLine = await lastWrittenLine(this.deps.redis, this.deps.keys, task.id);
    this.deps.metrics.sandboxesAttached.inc();
    this.log.info({ sandboxId, afterLine }, 'sandbox attached');
    return this.follow(task, handle, harness, afterLine, gh);
  }

  /**
   * Reads the sandbox's output from the start, writing the events of lines after `afterLine`, until
   * the sandbox ends, is stopped (cancel, timeout) or the dispatcher hands the task over.
   */
  private async follow(task: TaskRecord, handle: SandboxHandle, harness: Harness, afterLine: number, gh?: GitHubRun): Promise<RunEnd> {
    gh?.keepTokenFresh(handle);
    try {
      return await this.followRun(task, handle, harness, afterLine, gh);
    } finally {
      await gh?.stop();
    }
  }

  private async followRun(task: TaskRecord, handle: SandboxHandle, harness: Harness, afterLine: number, gh: GitHubRun | undefined): Promise<RunEnd> {
    const { config, store, handover } = this.deps;
    const log = this.log.child({ sandboxId: handle.id });
    const reader = new OutputReader(harness.createParser(), this.deps.redact, harness.name);
    const sink = new EventSink(store, task.id, task.state);
    const timeoutSec = task.limits?.timeoutSec ?? config.taskTimeoutSec;
    const maxCostUsd = task.limits?.maxCostUsd;
    const startedAt = task.startedAt ? Date.parse(task.startedAt) : this.startedMs;

    let stopped: StopReason | undefined;
    let terminating: Promise<void> | undefined;
    const stop = (reason: StopReason) => {
      if (stopped) return;
      stopped = reason;
      log.info({ reason }, 'stopping sandbox');
      terminating = handle.terminate().catch((err: unknown) => {
        log.error({ err: errorMessage(err) }, 'sandbox did not stop');
      });
    };

    const unwatch = this.deps.cancels.watch(task.id, () => stop('cancel'));
    const timer = setTimeout(() => stop('timeout'), Math.max(0, startedAt + timeoutSec * 1000 - Date.now()));
    let polling = false;
    const poll = setInterval(() => {
      if (polling || stopped) return;
      polling = true;
      store
        .get(task.id)
        .then((current) => {
          if (!current || isFinalState(current.state)) stop('final');
          else if (current.cancelRequested) stop('cancel');
        })
        .catch(() => undefined) // Redis trouble shows up in the appends
        .finally(() => {
          polling = false;
        });
    }, this.deps.cancelPollMs ?? 1000);
    if (task.cancelRequested) stop('cancel');

    try {
      for await (const chunk of handle.output(0, handover)) {
        for (const line of chunk) {
          const events = reader.read(line);
          if (line.line > afterLine) sink.add(events);
          if (maxCostUsd !== undefined && (reader.facts.costUsd ?? 0) > maxCostUsd) {
            if (!stopped) log.info({ costUsd: reader.facts.costUsd, maxCostUsd }, 'task over its spending limit');
            stop('budget');
          }
          if (sink.size >= BATCH_EVENTS && !(await sink.flush())) stop('final');
          if (!(await sink.advance(reader.phase()))) stop('final');
        }
        if (!(await sink.flush())) stop('final');
      }
      if (handover.aborted) {
        await sink.flush();
        this.deps.metrics.handedOver.inc();
        log.info('task handed over');
        return { kind: 'handover' };
      }
    } finally {
      clearTimeout(timer);
      clearInterval(poll);
      unwatch();
    }

    await terminating;
    const status: SandboxStatus = await handle.status();
    if (!(await sink.flush()) || stopped === 'final') {
      await this.release(handle, log);
      log.warn({ state: sink.state }, 'task ended elsewhere');
      return { kind: 'skipped', reason: 'task ended elsewhere' };
    }
    const facts = reader.facts;
    const forgeCommit = !(facts.push?.ok && facts.branch)
      ? undefined
      : gh
        ? facts.push.commit // GitHub accepted the push: the branch is at the pushed commit
        : await this.deps.forge.branchCommit(task.repo, facts.branch);
    let outcome = decideOutcome({
      facts,
      status,
      // a run that ended by itself before the stop took effect is judged by what it did; one that
      // went over its spending limit failed however it ended
      stopped: stopped === 'budget' ? 'budget' : (stopped === 'cancel' || stopped === 'timeout') && status.state !== 'exited' ? stopped : undefined,
      repo: task.repo,
      baseRef: task.baseRef,
      timeoutSec,
      maxCostUsd,
      forgeCommit,
    });
    await gh?.stop();
    await this.release(handle, log);
    if (gh) outcome = await gh.publish(outcome, facts, store);
    const durationMs = Date.now() - startedAt;
    const result = await store.transition(task.id, outcome.state, { ...outcome.update, durationMs });
    if (!result.ok) {
      log.warn({ current: result.current }, 'task ended elsewhere');
      return { kind: 'skipped', reason: 'task ended elsewhere' };
    }
    this.recordFinish(outcome.state, durationMs, outcome.update.error, log);
    await this.chargeTeam(task, outcome.update.costUsd, log);
    return { kind: 'finished', state: outcome.state };
  }

  /** Adds what the task cost to its team's spending of the day (UTC), which daily caps are checked against. */
  private async chargeTeam(task: TaskRecord, costUsd: number | undefined, log: Logger): Promise<void> {
    if (costUsd === undefined || !(costUsd > 0)) return;
    try {
      await addTeamCost(this.deps.redis, this.deps.keys, task.team, costUsd, new Date());
    } catch (err) {
      log.warn({ err: errorMessage(err), costUsd, team: task.team }, 'could not add the task cost to its team');
    }
  }

  private async release(handle: SandboxHandle, log: Logger): Promise<void> {
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

  private async finishWithoutSandbox(task: TaskRecord, state: FinalState, error?: TaskError): Promise<RunEnd> {
    const durationMs = Date.now() - (task.startedAt ? Date.parse(task.startedAt) : this.startedMs);
    const result = await this.deps.store.transition(task.id, state, { error, durationMs });
    if (!result.ok) return { kind: 'skipped', reason: `task is ${result.current ?? 'gone'}` };
    this.recordFinish(state, durationMs, error, this.log);
    return { kind: 'finished', state };
  }

  /** Ends a task that has no sandbox as failed. */
  private async fail(task: TaskRecord, code: string, message: string): Promise<RunEnd> {
    return this.finishWithoutSandbox(task, 'failed', { code, message: this.deps.redact(message) });
  }
}

/**
 * Ends a task that could not be run at all (its job failed for good): terminates its sandbox if
 * there is one, and records the failure. Best effort.
 */
export async function abandonTask(deps: RunnerDeps, taskId: string, error: TaskError): Promise<void> {
  const task = await deps.store.get(taskId);
  if (!task || isFinalState(task.state)) return;
  if (task.sandboxId) {
    const handle = await deps.provider.attach(task.sandboxId).catch(() => undefined);
    await handle?.terminate().catch(() => undefined);
    await handle?.release().catch(() => undefined);
  }
  await deps.store.transition(taskId, 'failed', { error: { code: error.code, message: deps.redact(error.message) } });
  deps.metrics.tasksFinished.inc({ outcome: 'failed' });
}
