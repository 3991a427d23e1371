import { errorMessage, parseReviewReplies, type Logger, type Redact, type TaskRecord, type TaskStore, type TaskTrigger } from '@agentq/shared';
import type { Outcome } from '../run/outcome.js';
import { followUpComment, reviewReply } from './follow-up-comment.js';
import type { GitHubDeps } from './github-run.js';
import { commentOnPull, replyToReviewComment, type Octokit } from './pull-request.js';

/**
 * What an automatic follow-up of a pull request (a task with a `trigger`) says there once its run
 * ended: for a change request that succeeded, the agent's answer to each inline comment of the
 * review it addressed (only those comments: the agent is untrusted), as replies; then one comment
 * on the pull request with the cause, the summary, the commit or "no changes", the cost and the
 * transcript link. Everything is redacted first. A comment that cannot be posted is logged and
 * said in the task's log; it never changes the task's outcome.
 */
export class FollowUpReporter {
  constructor(
    private readonly deps: Pick<GitHubDeps, 'app' | 'viewerUrl'>,
    private readonly store: TaskStore,
    private readonly redact: Redact,
    private readonly log: Logger,
  ) {}

  /** Reports a run that ended (`canceled` ones are not reported). `octokit`: a client of the run, when it has one. */
  async report(task: TaskRecord, outcome: Outcome, octokit?: Octokit): Promise<void> {
    const trigger = task.trigger;
    if (!trigger || outcome.state === 'canceled') return;
    let client = octokit;
    if (!client) {
      try {
        client = await this.deps.app.repoOctokit(task.repo);
      } catch (err) {
        await this.problem(task, err, `could not comment on pull request #${trigger.pullNumber}`, { prNumber: trigger.pullNumber });
        return;
      }
    }
    const viewerUrl = this.deps.viewerUrl(task.id);
    let summary = outcome.update.summary;
    let replied = 0;
    if (trigger.kind === 'changes_requested') {
      const parsed = parseReviewReplies(summary ?? '', trigger.comments.map((c) => c.id));
      summary = parsed.summary;
      // a run that failed pushed nothing: its answers would claim changes that are not there
      if (outcome.state === 'succeeded') replied = await this.reply(client, task, trigger, outcome, parsed.replies, viewerUrl);
    }
    const body = followUpComment({ task, trigger, outcome, summary, replied, viewerUrl });
    try {
      const url = await commentOnPull(client, task.repo, trigger.pullNumber, this.redact(body));
      this.log.info({ prNumber: trigger.pullNumber, commentUrl: url }, 'follow-up reported on the pull request');
    } catch (err) {
      await this.problem(task, err, `could not comment on pull request #${trigger.pullNumber}`, { prNumber: trigger.pullNumber });
    }
  }

  /** Posts the answers, in the agent's order; returns how many were posted. */
  private async reply(
    client: Octokit,
    task: TaskRecord,
    trigger: Extract<TaskTrigger, { kind: 'changes_requested' }>,
    outcome: Outcome,
    replies: Map<number, string>,
    viewerUrl: string,
  ): Promise<number> {
    let posted = 0;
    for (const [commentId, answer] of replies) {
      try {
        await replyToReviewComment(client, task.repo, trigger.pullNumber, commentId, this.redact(reviewReply(answer, task, outcome, viewerUrl)));
        posted += 1;
      } catch (err) {
        await this.problem(task, err, `could not reply to review comment ${commentId}`, { prNumber: trigger.pullNumber, commentId });
      }
    }
    if (posted > 0) this.log.info({ prNumber: trigger.pullNumber, replies: posted }, 'review comments answered');
    return posted;
  }

  /** A post that failed: logged, and said in the task's log. */
  private async problem(task: TaskRecord, err: unknown, what: string, fields: Record<string, number>): Promise<void> {
    const reason = this.redact(errorMessage(err));
    this.log.warn({ err: reason, ...fields }, 'could not post on the pull request');
    try {
      await this.store.append(task.id, [{ kind: 'log', stream: 'system', text: `${what}: ${reason}` }]);
    } catch (appendErr) {
      this.log.warn({ err: this.redact(errorMessage(appendErr)) }, 'could not add to the task log');
    }
  }
}
