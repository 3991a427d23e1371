import { AgentqError, REPO_CONFIG_INVALID, type Logger, type TaskRecord, type TaskUpdate } from '@agentq/shared';
import {
  InheritUnavailableError,
  ProviderUnavailableError,
  SandboxExistsError,
  taskError,
  taskErrorOf,
  type DispatchErrorCode,
  type DispatchTaskError,
} from '../dispatch-errors.js';
import type { GitHubAccess, GitHubRun } from '../github/github-run.js';
import type { Harness } from '../harnesses/harness.js';
import { harnessFor } from '../harnesses/registry.js';
import type { SandboxHandle } from '../providers/sandbox-provider.js';
import { TASK_TAG } from '../sandbox-tags.js';
import type { RunGatewayToken } from './gateway-token.js';
import { launchSpec, type LaunchInput } from './launch-spec.js';
import { RepoConfigSource, describeRepoConfig, type LoadedRepoConfig } from './repo-config-source.js';
import { RunPlanner, type RunPlan } from './run-plan.js';
import type { RunnerDeps } from './runner-deps.js';
import { GIT_TOKEN_FILE, SAFE_BRANCH } from './run-script.js';

/** A task with its sandbox, to follow. */
export interface Started {
  kind: 'started';
  /** The task as it runs (its forge, harness, model and limits resolved). */
  task: TaskRecord;
  handle: SandboxHandle;
  harness: Harness;
  /** Lines of the sandbox's output whose events are written already (0 for a new sandbox). */
  afterLine: number;
}

/** The task got no sandbox, and ends without one. */
export type NotStarted =
  | { kind: 'failed'; task: TaskRecord; error: DispatchTaskError }
  /** Canceled before a sandbox was created. */
  | { kind: 'canceled'; task: TaskRecord };

export type LaunchResult =
  | Started
  | NotStarted
  /** The task has a sandbox already (made by an attempt that ended before recording it): re-attach to it. */
  | { kind: 'exists'; task: TaskRecord }
  /** Its concurrency slot was no longer the task's right before the sandbox would have been created: none was. */
  | { kind: 'no-slot'; task: TaskRecord };

export type ReattachResult =
  | Started
  | NotStarted
  /** No sandbox was ever created for the task. */
  | { kind: 'missing'; task: TaskRecord };

export type LauncherDeps = Pick<RunnerDeps, 'config' | 'store' | 'provider' | 'forge' | 'github' | 'metrics'>;

function failed(task: TaskRecord, code: DispatchErrorCode, message: string): NotStarted {
  return { kind: 'failed', task, error: taskError(code, message) };
}

/**
 * Gives a task its sandbox: creates it (its repository's forge and settings, its branch, its
 * harness, its agent session), or re-attaches to the one an earlier dispatcher created.
 */
export class Launcher {
  private readonly planner: RunPlanner;

  constructor(
    private readonly deps: LauncherDeps,
    private readonly log: Logger,
    /** The run's model-gateway token, minted for the sandbox it creates. */
    private readonly gatewayToken: RunGatewayToken,
  ) {
    this.planner = new RunPlanner({
      store: deps.store,
      forge: deps.forge,
      github: deps.github !== undefined,
      providerName: deps.provider.name,
      defaultHarness: deps.config.harness,
    });
  }

  /**
   * Creates the sandbox of a task that has none. `github` is the task's GitHub run, for a task
   * whose repository is on GitHub: it mints the token the sandbox clones and pushes with.
   * `holdsSlot` is asked right before the sandbox is created: false, and none is.
   */
  async launch(given: TaskRecord, github: GitHubRun | undefined, holdsSlot: () => Promise<boolean> = async () => true): Promise<LaunchResult> {
    const { config, forge, provider, store } = this.deps;
    let task = given;
    const forgeKind = this.planner.forgeOf(task);
    if (!forgeKind) return failed(task, 'DISPATCH_UNKNOWN_REPO', `repository ${task.repo} does not exist in the local forge`);
    if (forgeKind === 'local' && provider.name !== 'local') {
      return failed(
        task,
        'DISPATCH_FORGE_UNREACHABLE',
        `repository ${task.repo} is in the local forge on the dispatcher's disk, which ${provider.name} sandboxes cannot reach; use the local provider, or a GitHub App`,
      );
    }
    if (task.forge !== forgeKind) task = await this.record(task, { forge: forgeKind });
    if (task.cancelRequested) return { kind: 'canceled', task };
    let plan = await this.planner.plan(task);
    if (!SAFE_BRANCH.test(plan.branch)) return failed(task, 'DISPATCH_INTERNAL', 'could not derive a branch name');
    if (plan.pull) task = await this.record(task, { prNumber: plan.pull.number, prUrl: plan.pull.url ?? task.prUrl });
    let access: GitHubAccess | undefined;
    if (forgeKind === 'github' && github) {
      try {
        access = await github.prepare();
      } catch (err) {
        if (err instanceof AgentqError) return { kind: 'failed', task, error: taskErrorOf(err) };
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
      if (!(err instanceof AgentqError)) throw err;
      if (err.code === REPO_CONFIG_INVALID) await store.append(task.id, [{ kind: 'log', stream: 'system', text: err.message }]);
      return { kind: 'failed', task, error: taskErrorOf(err) };
    }
    const settings = repoConfig?.config;
    if (repoConfig) plan = { ...plan, notes: [...plan.notes, describeRepoConfig(repoConfig, task, configRef)] };
    // the task's own values win over the repository's, which win over the service's; they are
    // persisted, so a dispatcher that re-attaches to the sandbox uses the same harness
    const harnessName = task.harness ?? settings?.harness ?? config.harness;
    const harness = harnessFor(harnessName);
    if (!harness) return failed(task, 'DISPATCH_UNKNOWN_HARNESS', `unknown harness ${JSON.stringify(harnessName)}`);
    task = await this.record(task, {
      harness: harnessName,
      model: task.model ?? settings?.model,
      limits: task.limits?.maxTurns === undefined && settings?.maxTurns !== undefined ? { ...task.limits, maxTurns: settings.maxTurns } : task.limits,
    });
    plan = this.planner.session(plan, harness);
    const notes = plan.notes.map((text) => ({ kind: 'log' as const, stream: 'system' as const, text }));
    await store.append(task.id, [...notes, { kind: 'step', step: 'sandbox' }]);
    if (!(await holdsSlot())) return { kind: 'no-slot', task };
    const gateway = await this.gatewayToken.access(task);
    let handle: SandboxHandle;
    try {
      handle = await this.create({ task, harness, plan, access, settings, config, localUrl: forge.url(task.repo), gateway }, plan);
    } catch (err) {
      if (err instanceof SandboxExistsError) return { kind: 'exists', task };
      // the engine or service is unreachable or overloaded: the job is tried again later
      if (err instanceof AgentqError && !(err instanceof ProviderUnavailableError)) return { kind: 'failed', task, error: taskErrorOf(err) };
      throw err;
    }
    await store.update(task.id, { provider: provider.name, sandboxId: handle.id });
    this.deps.metrics.tasksStarted.inc({ harness: harness.name });
    const createdMs = Date.parse(task.createdAt);
    if (Number.isFinite(createdMs)) this.deps.metrics.queueWait.observe(Math.max(0, Date.now() - createdMs) / 1000);
    this.log.info(
      { repo: task.repo, harness: harness.name, sandboxId: handle.id, branch: plan.branch, followUpOf: task.followUpOf, continueBranch: plan.continueBranch },
      'sandbox created',
    );
    return { kind: 'started', task, handle, harness, afterLine: 0 };
  }

  /**
   * Re-attaches to the sandbox of a task an earlier run (or dispatcher) started: the one on its
   * record, else one tagged with its id. `github` takes over the token the sandbox holds.
   */
  async reattach(task: TaskRecord, github: GitHubRun | undefined): Promise<ReattachResult> {
    const { provider, store } = this.deps;
    const harness = harnessFor(task.harness ?? this.deps.config.harness);
    if (!harness) return failed(task, 'DISPATCH_UNKNOWN_HARNESS', `unknown harness ${JSON.stringify(task.harness)}`);
    const sandboxId = task.sandboxId ?? (await provider.list({ [TASK_TAG]: task.id }))[0]?.id;
    if (!sandboxId) return { kind: 'missing', task };
    const handle = await provider.attach(sandboxId);
    if (!handle) return failed(task, 'DISPATCH_SANDBOX_LOST', `sandbox ${sandboxId} no longer exists`);
    if (!task.sandboxId) await store.update(task.id, { provider: provider.name, sandboxId });
    if (task.forge === 'github') await github?.adopt(handle);
    const afterLine = await store.lastWrittenLine(task.id);
    this.deps.metrics.sandboxesAttached.inc();
    this.log.info({ sandboxId, afterLine }, 'sandbox attached');
    return { kind: 'started', task, handle, harness, afterLine };
  }

  /** Creates the sandbox; a follow-up whose earlier session files are gone starts a new session instead. */
  private async create(input: LaunchInput, plan: RunPlan): Promise<SandboxHandle> {
    const { provider, store } = this.deps;
    const { task } = input;
    try {
      const handle = await provider.create(launchSpec(input, plan));
      if (plan.resumeSessionId) {
        const text = `resuming agent session ${plan.resumeSessionId} of task ${task.followUpOf ?? ''}`;
        await store.append(task.id, [{ kind: 'log', stream: 'system', text }]);
      }
      return handle;
    } catch (err) {
      if (!(err instanceof InheritUnavailableError)) throw err;
      // the earlier sandbox is gone (or kept no session files): a new session is all there can be
      const text = `the session files of task ${task.followUpOf ?? ''} are gone; the agent starts a new session`;
      await store.append(task.id, [{ kind: 'log', stream: 'system', text }]);
      this.log.warn({ followUpOf: task.followUpOf, err: err.message }, 'agent session cannot be resumed');
      return provider.create(launchSpec(input, {}));
    }
  }

  /** Writes fields of the task's record; returns the task with them. */
  private async record(task: TaskRecord, update: TaskUpdate): Promise<TaskRecord> {
    await this.deps.store.update(task.id, update);
    return { ...task, ...update };
  }
}
