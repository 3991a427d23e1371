import { addReaction, parseRepoName, type DiffStat, type GitHubApp, type TaskRecord } from '@agentq/shared';
import { promptTitle } from '../run/run-script.js';

/** A client authenticated with a repository-scoped installation token. */
export type Octokit = Awaited<ReturnType<GitHubApp['repoOctokit']>>;

export interface PullRequestContent {
  task: TaskRecord;
  branch: string;
  summary: string | undefined;
  diffStat: DiffStat | undefined;
  costUsd: number | undefined;
  turns: number | undefined;
  viewerUrl: string;
}

export interface OpenedPull {
  number: number;
  url: string;
}

/** The longest agent summary a pull request's body or comment carries. */
export const MAX_SUMMARY = 20_000;

/**
 * The task came from an issue (not a pull request): agentq answers there once its pull request is
 * open, so the task's tokens may write issues.
 */
export function answersOnIssue(task: Pick<TaskRecord, 'github'>): boolean {
  return task.github?.issueNumber !== undefined && task.github.isPullRequest !== true;
}

/** The Slack conversation a task came from, when it came from Slack. */
export function slackLink(task: TaskRecord): string | undefined {
  if (!task.slack) return undefined;
  const query = new URLSearchParams({ team: task.slack.teamId, channel: task.slack.channel });
  return `https://slack.com/app_redirect?${query.toString()}`;
}

export function diffStatLine(stat: DiffStat | undefined): string {
  if (!stat) return 'unknown';
  const files = `${stat.files} file${stat.files === 1 ? '' : 's'} changed`;
  return `${files}, ${stat.insertions} insertion${stat.insertions === 1 ? '' : 's'}(+), ${stat.deletions} deletion${stat.deletions === 1 ? '' : 's'}(-)`;
}

/** The pull request's body: the agent's summary, the diff stat, cost and turns, and where to read more. */
export function pullRequestBody(content: PullRequestContent): string {
  const { task } = content;
  const summary = content.summary?.trim() || '_The agent left no summary._';
  const lines = [
    summary.length > MAX_SUMMARY ? `${summary.slice(0, MAX_SUMMARY)}…` : summary,
    '',
    '---',
    '',
    `**Diff:** ${diffStatLine(content.diffStat)}`,
    `**Cost:** ${content.costUsd === undefined ? 'unknown' : `$${content.costUsd.toFixed(2)}`} · **Turns:** ${content.turns ?? 'unknown'}`,
    `**Transcript:** [task ${task.id}](${content.viewerUrl})`,
  ];
  const slack = slackLink(task);
  if (slack) lines.push(`**Slack:** [the conversation](${slack})`);
  if (task.github?.issueNumber !== undefined && !task.github.isPullRequest) lines.push('', `Closes #${task.github.issueNumber}`);
  return lines.join('\n');
}

/** Opens the pull request of a task's branch and puts the labels on it. */
export async function openPullRequest(
  octokit: Octokit,
  input: PullRequestContent & { base: string; draft: boolean; labels: string[]; redact: (text: string) => string },
): Promise<OpenedPull> {
  const { owner, name } = parseRepoName(input.task.repo);
  const res = await octokit.request('POST /repos/{owner}/{repo}/pulls', {
    owner,
    repo: name,
    head: input.branch,
    base: input.base,
    draft: input.draft,
    title: input.redact(promptTitle(input.task.prompt, 120)),
    body: input.redact(pullRequestBody(input)),
  });
  const pull = { number: res.data.number, url: res.data.html_url };
  if (input.labels.length > 0) {
    await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', {
      owner,
      repo: name,
      issue_number: pull.number,
      labels: input.labels,
    });
  }
  return pull;
}

/** The repository's default branch. */
export async function defaultBranch(octokit: Octokit, repo: string): Promise<string> {
  const { owner, name } = parseRepoName(repo);
  const res = await octokit.request('GET /repos/{owner}/{repo}', { owner, repo: name });
  return res.data.default_branch;
}

/**
 * Where a branch of the repository points on GitHub, as its API says (undefined: no such branch).
 * A run's push is believed only once the branch is seen there at the pushed commit.
 */
export async function remoteBranchCommit(octokit: Octokit, repo: string, branch: string): Promise<string | undefined> {
  const { owner, name } = parseRepoName(repo);
  try {
    const res = await octokit.request('GET /repos/{owner}/{repo}/git/ref/{ref}', { owner, repo: name, ref: `heads/${branch}` });
    return res.data.object.type === 'commit' ? res.data.object.sha : undefined;
  } catch (err) {
    if ((err as { status?: number }).status === 404) return undefined;
    throw err;
  }
}

/** Tells the issue a task came from that its pull request is open, and puts a 🚀 on what asked. */
export async function announceOnIssue(octokit: Octokit, task: TaskRecord, pull: OpenedPull): Promise<void> {
  const issueNumber = task.github?.issueNumber;
  if (issueNumber === undefined) return;
  const { owner, name } = parseRepoName(task.repo);
  await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    owner,
    repo: name,
    issue_number: issueNumber,
    body: `Opened ${pull.url} for this (task \`${task.id}\`).`,
  });
  const commentId = task.github?.commentId;
  await addReaction(octokit, task.repo, commentId !== undefined ? { kind: 'issue-comment', id: commentId } : { kind: 'issue', number: issueNumber }, 'rocket');
}

/** Posts a comment on a pull request (its conversation); returns its page. */
export async function commentOnPull(octokit: Octokit, repo: string, pullNumber: number, body: string): Promise<string> {
  const { owner, name } = parseRepoName(repo);
  const res = await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo: name, issue_number: pullNumber, body });
  return res.data.html_url;
}

/** Answers an inline comment of a pull request's review, in its thread. */
export async function replyToReviewComment(octokit: Octokit, repo: string, pullNumber: number, commentId: number, body: string): Promise<void> {
  const { owner, name } = parseRepoName(repo);
  await octokit.request('POST /repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies', {
    owner,
    repo: name,
    pull_number: pullNumber,
    comment_id: commentId,
    body,
  });
}
