import { parseRepoName } from '@agentq/shared';
import type { Octokit } from '@octokit/core';
import { z } from 'zod';
import { githubUnavailable } from '../github-unavailable.js';
import { PER_PAGE, paginate } from './paginate.js';

const checkRunSchema = z.looseObject({
  id: z.number().int(),
  name: z.string(),
  status: z.string(),
  conclusion: z.string().nullable(),
  html_url: z.string().nullish(),
  details_url: z.string().nullish(),
  output: z.looseObject({ title: z.string().nullish(), summary: z.string().nullish(), text: z.string().nullish() }).nullish(),
  app: z.looseObject({ slug: z.string().nullish() }).nullish(),
});

export type CheckRun = z.infer<typeof checkRunSchema>;

/** Conclusions that ask for a fix. */
const FAILING = new Set(['failure', 'timed_out']);

/** Every check run of a commit (`GET /repos/{o}/{r}/commits/{sha}/check-runs`, all pages). */
export async function commitCheckRuns(octokit: Octokit, repo: string, sha: string): Promise<CheckRun[]> {
  const { owner, name } = parseRepoName(repo);
  try {
    return await paginate(async (page) => {
      const { data } = await octokit.request('GET /repos/{owner}/{repo}/commits/{ref}/check-runs', { owner, repo: name, ref: sha, per_page: PER_PAGE, page });
      return z.array(checkRunSchema).parse((data as { check_runs?: unknown }).check_runs);
    });
  } catch (err) {
    throw githubUnavailable(err);
  }
}

export type CiVerdict = { state: 'pending'; pending: number } | { state: 'passed' } | { state: 'failed'; failing: CheckRun[] };

/** Have all the checks concluded, and did any fail (`failure`, `timed_out`)? */
export function ciVerdict(runs: CheckRun[]): CiVerdict {
  const pending = runs.filter((r) => r.status !== 'completed').length;
  if (pending > 0) return { state: 'pending', pending };
  const failing = runs.filter((r) => r.conclusion !== null && FAILING.has(r.conclusion));
  return failing.length > 0 ? { state: 'failed', failing } : { state: 'passed' };
}

/** The page of a check run on GitHub (or where its CI shows it). */
export function checkUrl(run: CheckRun): string {
  return run.html_url ?? run.details_url ?? '';
}

/** A check run of GitHub Actions: its id is the id of its job. */
export function isActionsJob(run: CheckRun): boolean {
  return run.app?.slug === 'github-actions';
}
