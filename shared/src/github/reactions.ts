import type { Octokit } from '@octokit/core';
import { parseRepoName } from './repo-name.js';

/** What a reaction goes on: an issue (or pull request) comment, a review comment, or the issue itself. */
export type ReactionSubject =
  | { kind: 'issue-comment'; id: number }
  | { kind: 'review-comment'; id: number }
  | { kind: 'issue'; number: number };

export type ReactionContent = 'eyes' | 'rocket';

/** Adds a reaction (👀 when a task is queued, 🚀 when its pull request is open). */
export async function addReaction(octokit: Octokit, repo: string, subject: ReactionSubject, content: ReactionContent): Promise<void> {
  const { owner, name } = parseRepoName(repo);
  switch (subject.kind) {
    case 'issue-comment':
      await octokit.request('POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions', { owner, repo: name, comment_id: subject.id, content });
      return;
    case 'review-comment':
      await octokit.request('POST /repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions', { owner, repo: name, comment_id: subject.id, content });
      return;
    case 'issue':
      await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/reactions', { owner, repo: name, issue_number: subject.number, content });
      return;
  }
}
