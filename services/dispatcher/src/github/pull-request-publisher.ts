import { errorMessage, type Logger, type Redact, type TaskRecord, type TaskStore } from '@agentq/shared';
import { taskError } from '../dispatch-errors.js';
import type { Outcome } from '../run/outcome.js';
import type { RunFacts } from '../run/output-reader.js';
import { FollowUpReporter } from './follow-up-reporter.js';
import type { GitHubDeps } from './github-run.js';
import { announceOnIssue, answersOnIssue, defaultBranch, openPullRequest, type Octokit } from './pull-request.js';

/**
 * What a run on a GitHub repository publishes once its branch is pushed: the pull request (with a
 * token of the App's own, not the sandbox's), and the answer on the issue the task came from. An
 * automatic follow-up of a pull request reports there how its run ended, however it ended.
 */
export class PullRequestPublisher {
  constructor(
    private readonly deps: Pick<GitHubDeps, 'app' | 'config' | 'redis' | 'keys' | 'viewerUrl'>,
    private readonly store: TaskStore,
    private readonly redact: Redact,
    private readonly log: Logger,
  ) {}

  /**
   * After a run: `publishBranch`, then, for an automatic follow-up (a task with a `trigger`), the
   * report on its pull request. Returns the outcome to record.
   */
  async publish(task: TaskRecord, outcome: Outcome, facts: RunFacts, octokit?: Octokit): Promise<Outcome> {
    const published = await this.publishBranch(task, outcome, facts, octokit);
    await this.reportFollowUp(task, published, octokit);
    return published;
  }

  /** The report of an automatic follow-up on its pull request (nothing for other tasks). */
  async reportFollowUp(task: TaskRecord, outcome: Outcome, octokit?: Octokit): Promise<void> {
    if (!task.trigger) return;
    await new FollowUpReporter(this.deps, this.store, this.redact, this.log).report(task, outcome, octokit);
  }

  /**
   * After a successful run: opens the pull request of a new branch (not for a run on an existing
   * pull request's branch), and answers on the issue the task came from. Says so when nothing
   * changed. `octokit`: a client with the run's repo-scoped token minted already (one is minted
   * when absent).
   */
  private async publishBranch(task: TaskRecord, outcome: Outcome, facts: RunFacts, octokit?: Octokit): Promise<Outcome> {
    const { store } = this;
    if (outcome.state !== 'succeeded') return outcome;
    if (outcome.update.noChanges) {
      const text = task.prNumber !== undefined
        ? `nothing changed: nothing was added to pull request #${task.prNumber}`
        : 'nothing changed: no pull request was opened';
      await store.append(task.id, [{ kind: 'log', stream: 'system', text }]);
      return outcome;
    }
    const branch = outcome.update.branch;
    if (!branch) return outcome;
    if (task.prNumber !== undefined) {
      await store.append(task.id, [{ kind: 'log', stream: 'system', text: `pushed to pull request #${task.prNumber}` }]);
      return outcome;
    }
    const { app, config, redis, keys } = this.deps;
    const issues = answersOnIssue(task);
    let pull;
    try {
      const client = octokit ?? (await app.repoOctokit(task.repo, { issues }));
      const base = task.baseRef ?? facts.defaultBranch ?? (await defaultBranch(client, task.repo));
      pull = await openPullRequest(client, {
        task,
        branch,
        base,
        draft: config.draftPrs,
        labels: config.prLabels,
        summary: outcome.update.summary,
        diffStat: outcome.update.diffStat,
        costUsd: outcome.update.costUsd,
        turns: outcome.update.turns,
        viewerUrl: this.deps.viewerUrl(task.id),
        redact: this.redact,
      });
      await redis.set(keys.githubPull(task.repo, pull.number), task.id);
      await store.append(task.id, [{ kind: 'pr.opened', url: pull.url, number: pull.number }]);
      this.log.info({ prNumber: pull.number, prUrl: pull.url }, 'pull request opened');
      if (issues) {
        try {
          await announceOnIssue(client, task, pull);
        } catch (err) {
          const reason = this.redact(errorMessage(err));
          this.log.warn({ err: reason }, 'could not answer on the issue');
          await store.append(task.id, [{ kind: 'log', stream: 'system', text: `could not comment on issue #${task.github?.issueNumber ?? ''}: ${reason}` }]);
        }
      }
    } catch (err) {
      const reason = this.redact(errorMessage(err));
      this.log.warn({ err: reason }, 'could not open the pull request');
      return {
        state: 'failed',
        update: { ...outcome.update, error: taskError('DISPATCH_GITHUB_PR_FAILED', `${branch} was pushed, but the pull request could not be opened: ${reason}`) },
      };
    }
    return { state: 'succeeded', update: { ...outcome.update, prUrl: pull.url, prNumber: pull.number } };
  }
}
