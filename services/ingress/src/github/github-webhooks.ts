import {
  addReaction,
  errorMessage,
  isAgentqError,
  isFinalState,
  parseRepoName,
  taskRequestSchema,
  type Config,
  type GitHubApp,
  type GitHubContext,
  type Logger,
  type TaskRecord,
  type TaskRequest,
  type TaskStore,
  type TranscriptArchive,
} from '@agentq/shared';
import type { Octokit } from '@octokit/core';
import type { Redis } from 'ioredis';
import { ingressError } from '../http/ingress-errors.js';
import { redisCall } from '../http/redis-call.js';
import { admitGitHubRepo, checkTaskRequest, checkTeamBudget } from '../tasks/task-admission.js';
import type { TaskIntake } from '../tasks/task-intake.js';
import { AutofixLedger } from './autofix/autofix-ledger.js';
import { githubUnavailable } from './github-unavailable.js';
import { hasWriteAccess } from './write-access.js';
import { GITHUB_DELIVERY_SCOPE, deliveryTask, pullTask } from './pull-tasks.js';
import type { Trigger } from './webhook-triggers.js';

/** Deliveries already answered with a refusal comment (so a redelivery does not comment twice). */
const REFUSED_SCOPE = 'github:refused';

export type WebhookOutcome = { taskId: string; replayed: boolean } | { ignored: string };

export interface GitHubWebhooksOptions {
  config: Config;
  github: Pick<GitHubApp, 'admit' | 'repoOctokit'>;
  store: TaskStore;
  archive: TranscriptArchive;
  redis: Redis;
  intake: TaskIntake;
  logger: Logger;
}

interface Target {
  request: TaskRequest;
  parent?: TaskRecord;
}

class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly reply: string,
  ) {
    super(reason);
  }
}

/**
 * Turns a verified GitHub delivery that asks for work into a task: the repository must be
 * allowed, the person must have write access (else a polite reply and nothing queued); a comment
 * on a pull request agentq opened is a follow-up of that task, on another pull request a task on
 * its branch. The delivery id makes redeliveries find the first task. A 👀 reaction acknowledges.
 */
export class GitHubWebhooks {
  private readonly ledger: AutofixLedger;

  constructor(private readonly options: GitHubWebhooksOptions) {
    this.ledger = new AutofixLedger(options.redis, options.store.keys, options.config.idempotencyTtlSec);
  }

  async handle(deliveryId: string, trigger: Trigger): Promise<WebhookOutcome> {
    const { store, redis, intake, github } = this.options;
    const log = this.options.logger.child({ delivery: deliveryId, repo: trigger.repo, event: trigger.event });
    const admitted = await admitGitHubRepo(github, trigger.repo);
    if (!admitted.allowed) {
      log.info({ reason: admitted.reason }, 'github delivery ignored: repository not allowed');
      return { ignored: 'repository not allowed' };
    }
    const bound = await deliveryTask(this.options, deliveryId);
    if (bound) {
      log.debug({ taskId: bound }, 'github redelivery of an accepted task');
      return { taskId: bound, replayed: true };
    }

    const octokit = await this.octokit(trigger.repo);
    let target: Target;
    try {
      await this.requireWriteAccess(octokit, trigger);
      target = await this.target(octokit, trigger);
      checkTaskRequest(target.request, this.options.config);
      await checkTeamBudget(admitted.team, this.options.config, { redis, keys: store.keys });
    } catch (err) {
      const refusal = this.asRefusal(err, trigger);
      if (!refusal) throw err;
      log.info({ reason: refusal.reason, login: trigger.login }, 'github delivery refused');
      if (refusal.reply) await this.replyOnce(octokit, trigger, deliveryId, refusal.reply, log);
      return { ignored: refusal.reason };
    }

    const parent = target.parent;
    const context: GitHubContext = {
      issueNumber: trigger.issueNumber,
      login: trigger.login,
      userId: trigger.userId,
    };
    if (trigger.isPullRequest) context.isPullRequest = true;
    if (trigger.commentId !== undefined) context.commentId = trigger.commentId;
    const result = await intake.submit({
      team: admitted.team,
      request: target.request,
      idempotencyKey: deliveryId,
      idempotencyScope: GITHUB_DELIVERY_SCOPE,
      source: 'github',
      github: context,
      forge: 'github',
      followUpOf: parent?.id,
      after: parent && !isFinalState(parent.state) ? parent.id : undefined,
    });
    const taskLog = log.child({ taskId: result.id });
    if (trigger.isPullRequest && !result.replayed) await this.ledger.recordTask(trigger.repo, trigger.issueNumber, result.id, false);
    if (result.replayed) {
      taskLog.debug('github redelivery of an accepted task');
      return { taskId: result.id, replayed: true };
    }
    taskLog.info({ team: admitted.team, issue: trigger.issueNumber, login: trigger.login, followUpOf: parent?.id }, 'task accepted from github');
    await addReaction(octokit, trigger.repo, trigger.reactTo, 'eyes').catch((err: unknown) =>
      taskLog.warn({ err: errorMessage(err) }, 'github reaction failed'),
    );
    return { taskId: result.id, replayed: false };
  }

  private async octokit(repo: string): Promise<Octokit> {
    try {
      return await this.options.github.repoOctokit(repo, { issues: true });
    } catch (err) {
      throw githubUnavailable(err);
    }
  }

  private async requireWriteAccess(octokit: Octokit, trigger: Trigger): Promise<void> {
    if (!(await hasWriteAccess(octokit, trigger.repo, trigger.login))) {
      throw new Refusal(
        'no write access',
        `@${trigger.login} thanks for asking, but agentq only takes requests from people with write access to this repository, so nothing was started.`,
      );
    }
  }

  /** The request to queue: a new task, a task on a pull request's branch, or a follow-up of the task that opened it. */
  private async target(octokit: Octokit, trigger: Trigger): Promise<Target> {
    const { repo, prompt } = trigger;
    if (!trigger.isPullRequest) return { request: parseRequest({ repo, prompt }) };
    const parent = await pullTask(this.options, repo, trigger.issueNumber);
    if (parent) {
      return {
        parent,
        request: parseRequest({
          repo,
          prompt,
          baseRef: parent.baseRef,
          harness: parent.harness,
          model: parent.model,
          limits: parent.limits,
          priority: parent.priority,
        }),
      };
    }
    if (trigger.followUpOnly) throw new Refusal('not an agentq pull request', '');
    const { owner, name } = parseRepoName(repo);
    let head: { ref: string; repo: { full_name: string } | null };
    try {
      const { data } = await octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', {
        owner,
        repo: name,
        pull_number: trigger.issueNumber,
      });
      head = data.head;
    } catch (err) {
      throw githubUnavailable(err);
    }
    if (head.repo?.full_name !== repo) {
      throw new Refusal(
        'pull request from a fork',
        `@${trigger.login} agentq can only work on pull requests whose branch is in this repository, so nothing was started.`,
      );
    }
    return { request: parseRequest({ repo, prompt, baseRef: head.ref }) };
  }

  private asRefusal(err: unknown, trigger: Trigger): Refusal | undefined {
    if (err instanceof Refusal) return err;
    if (isAgentqError(err) && err.status < 500) {
      return new Refusal(err.code, `@${trigger.login} agentq could not start this: ${err.message}.`);
    }
    return undefined;
  }

  /** Posts the reply once per delivery (a redelivery is not answered again); failures are logged. */
  private async replyOnce(octokit: Octokit, trigger: Trigger, deliveryId: string, body: string, log: Logger): Promise<void> {
    const { store, redis, config } = this.options;
    const key = store.keys.idempotency(REFUSED_SCOPE, deliveryId);
    const first = await redisCall(() => redis.set(key, '1', 'EX', config.idempotencyTtlSec, 'NX'));
    if (first !== 'OK') return;
    const { owner, name } = parseRepoName(trigger.repo);
    try {
      await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        owner,
        repo: name,
        issue_number: trigger.issueNumber,
        body,
      });
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'github reply failed');
    }
  }
}

export function parseRequest(fields: Record<string, unknown>): TaskRequest {
  const parsed = taskRequestSchema.safeParse(fields);
  if (!parsed.success) {
    throw ingressError('INGRESS_INVALID_REQUEST', parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; '));
  }
  return parsed.data;
}
