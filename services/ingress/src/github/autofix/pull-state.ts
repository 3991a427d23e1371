import { parseRepoName } from '@agentq/shared';
import type { Octokit } from '@octokit/core';
import { z } from 'zod';
import { githubUnavailable, statusOf } from '../github-unavailable.js';

const pullSchema = z.looseObject({
  number: z.number().int(),
  state: z.string(),
  html_url: z.string(),
  labels: z.array(z.looseObject({ name: z.string() })).default([]),
  head: z.looseObject({ sha: z.string().nullish(), ref: z.string(), repo: z.looseObject({ full_name: z.string() }).nullable() }),
});

export type PullState = z.infer<typeof pullSchema>;

/** The pull request as GitHub has it now; undefined when there is none. */
export async function fetchPull(octokit: Octokit, repo: string, number: number): Promise<PullState | undefined> {
  const { owner, name } = parseRepoName(repo);
  try {
    const { data } = await octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner, repo: name, pull_number: number });
    const parsed = pullSchema.safeParse(data);
    if (!parsed.success) throw new Error('the pull request answer lacks fields agentq reads');
    return parsed.data;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw githubUnavailable(err);
  }
}

/** Why a pull request gets no automatic follow-up (closed, from a fork, labeled hands-off), or undefined. */
export function pullRefusal(pull: PullState | undefined, repo: string, noAutofixLabel: string): string | undefined {
  if (!pull) return 'pull request not found';
  if (pull.state !== 'open') return 'pull request not open';
  if (pull.head.repo?.full_name.toLowerCase() !== repo.toLowerCase()) return 'pull request from a fork';
  if (pull.labels.some((l) => l.name === noAutofixLabel)) return 'pull request labeled hands-off';
  return undefined;
}
