import {
  errorMessage,
  isAgentqError,
  isFinalState,
  isTaskId,
  parseRepoName,
  type Config,
  type GitHubApp,
  type GitHubAutofixConfig,
  type Logger,
  type SlackContext,
  type TaskRecord,
  type TaskStore,
  type TaskTrigger,
  type TranscriptArchive,
} from '@agentq/shared';
import type { Octokit } from '@octokit/core';
import type { Redis } from 'ioredis';
import { redisCall } from '../../http/redis-call.js';
import { admitGitHubRepo, checkTaskRequest, checkTeamBudget } from '../../tasks/task-admission.js';
import type { TaskCanceler } from '../../tasks/task-canceler.js';
import type { TaskIntake } from '../../tasks/task-intake.js';
import { parseRequest, type WebhookOutcome } from '../github-webhooks.js';
import { GITHUB_DELIVERY_SCOPE, deliveryTask, pullTask } from '../pull-tasks.js';
import { githubUnavailable } from '../github-unavailable.js';
import { hasWriteAccess } from '../write-access.js';
import { jobReport } from './actions-jobs.js';
import { AutofixLedger } from './autofix-ledger.js';
import { autofixSettings, type AutofixSettings } from './autofix-settings.js';
import type { AutofixSignal } from './autofix-signals.js';
import { checkUrl, ciVerdict, commitCheckRuns, isActionsJob, type CheckRun } from './check-runs.js';
import { ciPrompt, type FailingCheck } from './ci-prompt.js';
import { fetchPull, pullRefusal } from './pull-state.js';
import { reviewComments, reviewPrompt } from './review-prompt.js';
import { oneLine } from './untrusted-text.js';

/** Idempotency keys of automatic follow-ups (one per commit's checks, one per review) live in this scope. */
export const AUTOFIX_SCOPE = 'github:autofix';

/** Failing Actions jobs whose steps and logs are read for one follow-up. */
const MAX_JOBS_READ = 10;

export type AutofixOutcome = WebhookOutcome | { handled: string };

export interface AutofixFollowUpsOptions {
  config: Config;
  autofix: GitHubAutofixConfig;
  github: Pick<GitHubApp, 'admit' | 'repoOctokit'>;
  store: TaskStore;
  archive: TranscriptArchive;
  redis: Redis;
  intake: TaskIntake;
  canceler: Pick<TaskCanceler, 'cancel'>;
  logger: Logger;
}

/** Why nothing was started for one pull request. */
class Skip extends Error {}

/**
 * The automatic follow-ups of pull requests agentq opened: a follow-up of the pull request's task
 * when all the checks of its head commit concluded and some failed, or when someone with write
 * access requested changes; at most `maxAttempts` in a row without a person pushing or
 * commenting (then one comment that agentq stopped); none for a closed pull request, one from a
 * fork, or one labeled hands-off (labeling or closing cancels those queued or running).
 */
export class AutofixFollowUps {
  private readonly ledger: AutofixLedger;

  constructor(private readonly options: AutofixFollowUpsOptions) {
    this.ledger = new AutofixLedger(options.redis, options.store.keys, options.config.idempotencyTtlSec);
  }

  async handle(deliveryId: string, signal: AutofixSignal): Promise<AutofixOutcome> {
    const log = this.options.logger.child({ delivery: deliveryId, repo: signal.repo, event: signal.event });
    const admitted = await admitGitHubRepo(this.options.github, signal.repo);
    if (!admitted.allowed) {
      log.debug({ reason: admitted.reason }, 'github delivery ignored: repository not allowed');
      return { ignored: 'repository not allowed' };
    }
    switch (signal.kind) {
      case 'human':
        return this.reset(signal, log);
      case 'stop':
        return this.stop(signal, log);
      case 'ci':
      case 'review': {
        const bound = await deliveryTask(this.options, deliveryId);
        if (bound) return { taskId: bound, replayed: true };
        const outcome = signal.kind === 'ci' ? await this.ciFailure(signal, admitted.team, log) : await this.changesRequested(signal, admitted.team, log);
        if ('taskId' in outcome && !outcome.replayed) {
          const key = this.options.store.keys.idempotency(GITHUB_DELIVERY_SCOPE, deliveryId);
          await redisCall(() => this.options.redis.set(key, outcome.taskId, 'EX', this.options.config.idempotencyTtlSec));
        }
        return outcome;
      }
    }
  }

  private async reset(signal: Extract<AutofixSignal, { kind: 'human' }>, log: Logger): Promise<AutofixOutcome> {
    await this.ledger.reset(signal.repo, signal.pullNumber);
    log.debug({ pull: signal.pullNumber }, 'automatic follow-ups: attempts start again after a person pushed or commented');
    return { handled: 'attempts reset' };
  }

  private async stop(signal: Extract<AutofixSignal, { kind: 'stop' }>, log: Logger): Promise<AutofixOutcome> {
    const { store, canceler } = this.options;
    const canceled: string[] = [];
    for (const id of await this.ledger.automaticTasks(signal.repo, signal.pullNumber)) {
      const task = await redisCall(() => store.get(id));
      if (!task?.trigger || isFinalState(task.state)) continue;
      try {
        await canceler.cancel(task);
        canceled.push(id);
      } catch (err) {
        if (!(isAgentqError(err) && err.code === 'INGRESS_TASK_FINAL')) throw err;
      }
    }
    log.info({ pull: signal.pullNumber, reason: signal.reason, canceled }, 'automatic follow-ups stopped');
    return { handled: `${signal.reason}: ${canceled.length} automatic follow-up${canceled.length === 1 ? '' : 's'} canceled` };
  }

  private async ciFailure(signal: Extract<AutofixSignal, { kind: 'ci' }>, team: string, log: Logger): Promise<AutofixOutcome> {
    const skipped: string[] = [];
    let octokit: Octokit | undefined;
    let settings: AutofixSettings | undefined;
    let created: AutofixOutcome | undefined;
    for (const pullNumber of signal.pulls) {
      const plog = log.child({ pull: pullNumber, headSha: signal.headSha });
      try {
        const parent = await pullTask(this.options, signal.repo, pullNumber);
        if (!parent) throw new Skip('not an agentq pull request');
        octokit ??= await this.octokit(signal.repo, true);
        settings ??= await autofixSettings(octokit, signal.repo, this.options.autofix, log);
        if (!settings.ci) throw new Skip('automatic CI fixes are off for this repository');
        const outcome = await this.ciFollowUp(octokit, settings, signal, pullNumber, parent, team, plog);
        created ??= outcome;
      } catch (err) {
        if (!(err instanceof Skip)) throw err;
        plog.info({ reason: err.message }, 'no automatic follow-up for the checks');
        skipped.push(err.message);
      }
    }
    return created ?? { ignored: [...new Set(skipped)].join('; ') };
  }

  private async ciFollowUp(
    octokit: Octokit,
    settings: AutofixSettings,
    signal: Extract<AutofixSignal, { kind: 'ci' }>,
    pullNumber: number,
    parent: TaskRecord,
    team: string,
    log: Logger,
  ): Promise<AutofixOutcome> {
    const { repo, headSha } = signal;
    const pull = await fetchPull(octokit, repo, pullNumber);
    const refusal = pullRefusal(pull, repo, this.options.autofix.noAutofixLabel);
    if (refusal) throw new Skip(refusal);
    if (pull?.head.sha !== headSha) throw new Skip('the commit is no longer the head of the pull request');
    const verdict = ciVerdict(await commitCheckRuns(octokit, repo, headSha));
    if (verdict.state === 'pending') throw new Skip(`${verdict.pending} check${verdict.pending === 1 ? ' is' : 's are'} still running`);
    if (verdict.state === 'passed') throw new Skip('no check failed');
    if (await this.activeTask(repo, pullNumber)) throw new Skip('a task of the pull request is queued or running');
    await this.checkBudget(team);
    const cause = `ci:${headSha}`;
    const attempt = await this.takeAttempt(octokit, repo, pullNumber, cause, settings.maxAttempts, verdict.failing, undefined, log);
    try {
      const checks: FailingCheck[] = [];
      for (const run of verdict.failing) {
        const job = isActionsJob(run) && checks.filter((c) => c.job).length < MAX_JOBS_READ ? await jobReport(octokit, repo, run.id, log) : undefined;
        checks.push(job ? { run, job } : { run });
      }
      const prompt = ciPrompt({ pullNumber, headSha, checks, logBytes: this.options.autofix.ciLogBytes, maxChars: this.options.config.maxPromptChars });
      const first = verdict.failing[0] as CheckRun;
      const trigger: TaskTrigger = {
        kind: 'ci_failure',
        pullNumber,
        headSha,
        url: checkUrl(first),
        checks: verdict.failing.slice(0, 100).map((r) => ({ name: oneLine(r.name), conclusion: r.conclusion ?? '', url: checkUrl(r) })),
        attempt,
      };
      return await this.submit({ parent, team, pullNumber, prompt, trigger, key: `ci:${repo}#${pullNumber}@${headSha}`, after: undefined, log });
    } catch (err) {
      await this.giveBack(repo, pullNumber, cause);
      throw asSkip(err);
    }
  }

  private async changesRequested(signal: Extract<AutofixSignal, { kind: 'review' }>, team: string, log: Logger): Promise<AutofixOutcome> {
    const { repo, pullNumber, reviewId } = signal;
    const plog = log.child({ pull: pullNumber, reviewId, reviewer: signal.reviewer });
    try {
      const parent = await pullTask(this.options, repo, pullNumber);
      if (!parent) throw new Skip('not an agentq pull request');
      const octokit = await this.octokit(repo, false);
      const settings = await autofixSettings(octokit, repo, this.options.autofix, log);
      if (!settings.reviews) throw new Skip('automatic follow-ups of reviews are off for this repository');
      if (!(await hasWriteAccess(octokit, repo, signal.reviewer))) throw new Skip('the reviewer has no write access');
      const refusal = pullRefusal(await fetchPull(octokit, repo, pullNumber), repo, this.options.autofix.noAutofixLabel);
      if (refusal) throw new Skip(refusal);
      await this.checkBudget(team);
      const cause = `review:${reviewId}`;
      const attempt = await this.takeAttempt(octokit, repo, pullNumber, cause, settings.maxAttempts, undefined, signal.url, plog);
      try {
        const comments = await reviewComments(octokit, repo, pullNumber, reviewId);
        const prompt = reviewPrompt({ pullNumber, reviewer: signal.reviewer, url: signal.url, body: signal.body, comments, maxChars: this.options.config.maxPromptChars });
        const trigger: TaskTrigger = {
          kind: 'changes_requested',
          pullNumber,
          reviewId,
          url: signal.url,
          reviewer: signal.reviewer,
          comments: comments.slice(0, 100).map((c) => ({ id: c.id, path: c.path, ...(c.line === undefined ? {} : { line: c.line }) })),
          attempt,
        };
        const active = await this.activeTask(repo, pullNumber);
        return await this.submit({ parent, team, pullNumber, prompt, trigger, key: `review:${repo}#${pullNumber}:${reviewId}`, after: active?.id, log: plog });
      } catch (err) {
        await this.giveBack(repo, pullNumber, cause);
        throw asSkip(err);
      }
    } catch (err) {
      if (!(err instanceof Skip)) throw err;
      plog.info({ reason: err.message }, 'no automatic follow-up for the review');
      return { ignored: err.message };
    }
  }

  /** Claims the cause and takes an attempt; at the cap, says once on the pull request that agentq stopped. */
  private async takeAttempt(
    octokit: Octokit,
    repo: string,
    pullNumber: number,
    cause: string,
    cap: number,
    failing: CheckRun[] | undefined,
    reviewUrl: string | undefined,
    log: Logger,
  ): Promise<number> {
    if (!(await this.ledger.claimCause(repo, pullNumber, cause))) throw new Skip('already followed up');
    const taken = await this.ledger.takeAttempt(repo, pullNumber, cap);
    if (taken.taken) return taken.attempt;
    await this.ledger.releaseCause(repo, pullNumber, cause);
    if (taken.firstStop) await this.commentStopped(octokit, repo, pullNumber, taken.attempts, failing, reviewUrl, log);
    throw new Skip(`the cap of ${cap} automatic follow-ups is reached`);
  }

  private async giveBack(repo: string, pullNumber: number, cause: string): Promise<void> {
    await this.ledger.giveBackAttempt(repo, pullNumber).catch(() => undefined);
    await this.ledger.releaseCause(repo, pullNumber, cause).catch(() => undefined);
  }

  private async commentStopped(
    octokit: Octokit,
    repo: string,
    pullNumber: number,
    attempts: number,
    failing: CheckRun[] | undefined,
    reviewUrl: string | undefined,
    log: Logger,
  ): Promise<void> {
    const lines = [
      `agentq stopped following up this pull request automatically: it made ${attempts} automatic follow-up${attempts === 1 ? '' : 's'} in a row without a push or a comment from a person.`,
    ];
    if (failing && failing.length > 0) {
      lines.push('', 'Last failing checks:', ...failing.slice(0, 20).map((r) => `- [${oneLine(r.name).replace(/[[\]]/g, '')}](${checkUrl(r)}) (${r.conclusion ?? ''})`));
    }
    if (reviewUrl) lines.push('', `The review that requested changes: ${reviewUrl}`);
    lines.push('', 'Push to the branch or comment here and agentq follows up again; `/agent …` in a comment starts a follow-up now.');
    const { owner, name } = parseRepoName(repo);
    try {
      await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo: name, issue_number: pullNumber, body: lines.join('\n') });
      log.info({ pull: pullNumber, attempts }, 'automatic follow-ups stopped at the cap; said so on the pull request');
    } catch (err) {
      log.warn({ pull: pullNumber, err: errorMessage(err) }, 'could not comment that automatic follow-ups stopped');
    }
  }

  private async submit(input: {
    parent: TaskRecord;
    team: string;
    pullNumber: number;
    prompt: string;
    trigger: TaskTrigger;
    key: string;
    after: string | undefined;
    log: Logger;
  }): Promise<AutofixOutcome> {
    const { parent, pullNumber, trigger } = input;
    const request = parseRequest({
      repo: parent.repo,
      prompt: input.prompt,
      baseRef: parent.baseRef,
      harness: parent.harness,
      model: parent.model,
      limits: parent.limits,
      priority: parent.priority,
    });
    checkTaskRequest(request, this.options.config);
    const result = await this.options.intake.submit({
      team: input.team,
      request,
      idempotencyKey: input.key,
      idempotencyScope: AUTOFIX_SCOPE,
      source: 'github',
      github: { issueNumber: pullNumber, isPullRequest: true },
      forge: 'github',
      followUpOf: parent.id,
      after: input.after,
      trigger,
      slack: slackThreadOf(parent),
    });
    if (result.replayed) return { taskId: result.id, replayed: true };
    await this.ledger.recordTask(parent.repo, pullNumber, result.id, true);
    input.log.info({ taskId: result.id, kind: trigger.kind, attempt: trigger.attempt, followUpOf: parent.id, after: input.after, team: input.team }, 'automatic follow-up accepted');
    return { taskId: result.id, replayed: false };
  }

  private async checkBudget(team: string): Promise<void> {
    try {
      await checkTeamBudget(team, this.options.config, { redis: this.options.redis, keys: this.options.store.keys });
    } catch (err) {
      if (isAgentqError(err) && err.code === 'INGRESS_BUDGET_EXHAUSTED') throw new Skip('the team has spent its daily budget');
      throw err;
    }
  }

  private async octokit(repo: string, ci: boolean): Promise<Octokit> {
    try {
      return await this.options.github.repoOctokit(repo, ci ? { ci: true } : {});
    } catch (err) {
      throw githubUnavailable(err);
    }
  }


  /** The pull request's latest task, when it is queued or running. */
  private async activeTask(repo: string, number: number): Promise<TaskRecord | undefined> {
    const id = await this.ledger.latestTask(repo, number);
    if (!id || !isTaskId(id)) return undefined;
    const task = await redisCall(() => this.options.store.get(id));
    return task && !isFinalState(task.state) ? task : undefined;
  }

}

/** A refusal of the follow-up itself (its prompt, its request) starts nothing and is logged; other failures fail the delivery. */
function asSkip(err: unknown): unknown {
  if (isAgentqError(err) && err.status < 500) return new Skip(`the follow-up could not be queued: ${err.code}`);
  return err;
}

/** The Slack thread of the pull request's task, when it came from Slack: the follow-up shows there. */
function slackThreadOf(parent: TaskRecord): SlackContext | undefined {
  const slack = parent.slack;
  if (!slack) return undefined;
  const threadTs = slack.threadTs ?? slack.statusTs;
  return {
    teamId: slack.teamId,
    ...(slack.enterpriseId === undefined ? {} : { enterpriseId: slack.enterpriseId }),
    channel: slack.channel,
    userId: slack.userId,
    ...(threadTs === undefined ? {} : { threadTs }),
  };
}
