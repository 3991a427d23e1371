import type { Redis } from 'ioredis';
import { callbackUrlProblem, controlCharacterIn, secondsUntilUtcMidnight, teamCostOfDay, type Config, type GitHubApp, type LocalForge, type RedisKeys, type TaskRecord, type TaskRequest } from '@agentq/shared';
import { ingressError } from '../http/ingress-errors.js';
import { redisCall } from '../http/redis-call.js';

export type TaskForge = NonNullable<TaskRecord['forge']>;

export interface AdmissionDeps {
  config: Config;
  /** The local forge, or a `ForgeRepoCache` of it. */
  forge: Pick<LocalForge, 'has'>;
  /** The GitHub App, when configured: repositories it is installed on (and allowed) are admitted too. */
  github?: Pick<GitHubApp, 'admit'>;
  /** The team the task counts against and where its spending is kept: its daily cap is checked. */
  budget?: BudgetDeps & { team: string };
}

/** Where the teams' spending of the day is read. */
export interface BudgetDeps {
  redis: Redis;
  keys: RedisKeys;
  /** The clock (UTC days); the system clock by default. */
  now?: () => Date;
}

export interface Admission {
  /** Where the repository lives. */
  forge: TaskForge;
  /** For a GitHub repository: the team its configured rule gives it. */
  team?: string;
}

/**
 * What every way in (HTTP API, Slack, GitHub) checks before a task is queued: the completion
 * callback (refused when callbacks are off or its URL may not be called), the prompt limit,
 * the team's daily spending cap, and that the repository is known: held by the local forge or, with a GitHub App configured, one
 * the App is installed on and the configuration allows.
 */
export async function admitTaskRequest(request: TaskRequest, deps: AdmissionDeps): Promise<Admission> {
  checkTaskRequest(request, deps.config);
  if (deps.budget && deps.config.teamDailyUsd[deps.budget.team] !== undefined) await checkTeamBudget(deps.budget.team, deps.config, deps.budget);
  if (deps.forge.has(request.repo)) return { forge: 'local' };
  if (deps.github) {
    const admitted = await admitGitHubRepo(deps.github, request.repo);
    if (admitted.allowed) return { forge: 'github', team: admitted.team };
    throw ingressError(
      'INGRESS_UNKNOWN_REPO',
      `\`${request.repo}\` is neither in agentq's local forge nor a GitHub repository agentq may work on (${admitted.reason ?? 'not allowed'})`,
    );
  }
  throw ingressError(
    'INGRESS_UNKNOWN_REPO',
    `\`${request.repo}\` is not a repository agentq knows; add it with \`agentq repo add\` (POST /v1/repos)`,
  );
}

/** The checks that do not depend on where the repository lives: the completion callback, the prompt's characters and limit. */
export function checkTaskRequest(request: TaskRequest, config: Config): void {
  if (request.callbackUrl !== undefined) checkCallbackUrl(request.callbackUrl, config);
  const character = controlCharacterIn(request.prompt);
  if (character !== undefined) {
    throw ingressError('INGRESS_PROMPT_INVALID', `the prompt holds the control character ${character}; only tab, line feed and carriage return are allowed`, {
      details: { character },
    });
  }
  const promptChars = [...request.prompt].length;
  const limit = config.maxPromptChars;
  if (promptChars > limit) {
    throw ingressError('INGRESS_PROMPT_TOO_LONG', `the prompt has ${promptChars} characters; the limit is ${limit}`, {
      details: { limit },
    });
  }
}

/**
 * A `callbackUrl` is accepted only with callbacks on (`AGENTQ_CALLBACK_SECRET` and
 * `AGENTQ_CALLBACK_HOSTS`), and only to an allowed host, over `https` (or `http` to a loopback
 * host), without credentials. The URL itself is never repeated in the answer.
 */
export function checkCallbackUrl(url: string, config: Config): void {
  if (!config.callbacks) {
    throw ingressError(
      'INGRESS_NOT_SUPPORTED',
      'not supported: callbackUrl (completion callbacks are off; set AGENTQ_CALLBACK_SECRET and AGENTQ_CALLBACK_HOSTS to turn them on)',
    );
  }
  const problem = callbackUrlProblem(url, config.callbacks.hosts);
  if (problem) {
    throw ingressError('INGRESS_CALLBACK_NOT_ALLOWED', problem.message, {
      details: { reason: problem.reason, ...(problem.host !== undefined ? { host: problem.host } : {}) },
    });
  }
}

/**
 * Refuses a task of a team whose tasks that ended today (UTC) cost at least its cap
 * (`AGENTQ_TEAM_DAILY_USD`), until UTC midnight. A team without a cap is not looked up.
 */
export async function checkTeamBudget(team: string, config: Config, deps: BudgetDeps): Promise<void> {
  const capUsd = config.teamDailyUsd[team];
  if (capUsd === undefined) return;
  const now = deps.now?.() ?? new Date();
  const spentUsd = await redisCall(() => teamCostOfDay(deps.redis, deps.keys, team, now));
  if (spentUsd < capUsd) return;
  const retryAfterSec = secondsUntilUtcMidnight(now);
  throw ingressError(
    'INGRESS_BUDGET_EXHAUSTED',
    `team ${team} has spent $${spentUsd.toFixed(2)} today (UTC), reaching its daily cap of $${capUsd.toFixed(2)}; new tasks are accepted again at 00:00 UTC`,
    { details: { team, capUsd, spentUsd, retryAfterSec } },
  );
}

/** Asks the GitHub App; a GitHub API failure is a 503 (the request may succeed later), not an unknown repository. */
export async function admitGitHubRepo(
  github: Pick<GitHubApp, 'admit'>,
  repo: string,
): Promise<{ allowed: boolean; team: string; reason?: string }> {
  try {
    return await github.admit(repo);
  } catch (err) {
    throw ingressError('INGRESS_GITHUB_UNAVAILABLE', 'GitHub could not be asked about this repository; retry later', { cause: err });
  }
}
