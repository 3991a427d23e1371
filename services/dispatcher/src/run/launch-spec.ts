import type { Config, RepoConfig, TaskRecord } from '@agentq/shared';
import type { GitHubAccess } from '../github/github-run.js';
import type { GatewayAccess, Harness } from '../harnesses/harness.js';
import type { SandboxInheritance, SandboxSpec } from '../providers/sandbox-provider.js';
import { sandboxTags } from '../sandbox-tags.js';
import type { RunPlan } from './run-plan.js';
import { runLimits } from './run-limits.js';
import { runCommand, runEnvironment } from './run-script.js';

/** How much longer than its task's time limit a sandbox may live (see `SandboxSpec.timeoutMs`). */
export const SANDBOX_TIMEOUT_MARGIN_SEC = 600;

/** Everything a task's sandbox is made from. */
export interface LaunchInput {
  /** The task, with the harness, model and limits it runs with. */
  task: TaskRecord;
  harness: Harness;
  plan: Pick<RunPlan, 'branch' | 'continueBranch' | 'baseRef'>;
  /** How a GitHub task's sandbox reaches its repository (its token file, git's credential helper). */
  access?: GitHubAccess;
  /** The repository's settings (`.agentq.yml`), when it has some. */
  settings?: RepoConfig;
  config: Config;
  /** Where the sandbox clones a local-forge repository from. */
  localUrl: string;
  /** How the agent reaches the model gateway (with the task's token); none when it serves no provider. */
  gateway?: GatewayAccess;
}

/** Which agent session the run resumes, from which earlier sandbox; none: a new session. */
export interface LaunchSession {
  resumeSessionId?: string;
  inherit?: SandboxInheritance;
}

/** The sandbox of a task's run: the run script around the harness's command, its variables, files and limits. */
export function launchSpec(input: LaunchInput, session: LaunchSession): SandboxSpec {
  const { task, harness, plan, access, settings, config } = input;
  const limits = runLimits(task, config);
  const command = harness.command({
    taskId: task.id,
    prompt: task.prompt,
    model: task.model,
    maxTurns: limits.maxTurns,
    maxCostUsd: limits.maxCostUsd,
    resumeSessionId: session.resumeSessionId,
    gateway: input.gateway,
    config,
  });
  const runEnv = runEnvironment({
    taskId: task.id,
    repoUrl: access?.cloneUrl ?? input.localUrl,
    baseRef: plan.baseRef,
    branch: plan.branch,
    continueBranch: plan.continueBranch,
    prompt: task.prompt,
    gitAuthorName: access?.author.name ?? config.gitAuthorName,
    gitAuthorEmail: access?.author.email ?? config.gitAuthorEmail,
    coAuthors: access?.coAuthors,
    setup: settings?.setup,
  });
  return {
    taskId: task.id,
    command: runCommand(command.argv),
    readPaths: [...(command.argv[0] ? [command.argv[0]] : []), ...(command.readPaths ?? [])],
    env: { ...command.env, ...runEnv, ...access?.env },
    secrets: { ...config.sandboxSecrets, ...command.secrets },
    tags: sandboxTags(task.id, config.redisPrefix),
    inherit: session.inherit,
    files: access?.files,
    image: settings?.image,
    allowedDomains: settings?.allowedDomains,
    // past the task's own limit (which the dispatcher enforces) plus a margin, a provider that
    // can end sandboxes by itself does, should no dispatcher be left to
    timeoutMs: (limits.timeoutSec + SANDBOX_TIMEOUT_MARGIN_SEC) * 1000,
  };
}
