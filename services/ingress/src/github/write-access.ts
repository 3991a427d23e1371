import { parseRepoName } from '@agentq/shared';
import type { Octokit } from '@octokit/core';
import { githubUnavailable, statusOf } from './github-unavailable.js';

const WRITE_PERMISSIONS = new Set(['admin', 'maintain', 'write']);

/** Does this person have write access to the repository (their role, or their permission, is admin, maintain or write)? */
export async function hasWriteAccess(octokit: Octokit, repo: string, login: string): Promise<boolean> {
  const { owner, name } = parseRepoName(repo);
  try {
    const { data } = await octokit.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', { owner, repo: name, username: login });
    const role = (data as { role_name?: string }).role_name;
    return (role !== undefined && WRITE_PERMISSIONS.has(role)) || WRITE_PERMISSIONS.has(data.permission);
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw githubUnavailable(err);
  }
}
