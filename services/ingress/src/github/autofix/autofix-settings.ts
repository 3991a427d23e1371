import { REPO_CONFIG_FILES, REPO_CONFIG_MAX_BYTES, errorMessage, parseRepoConfig, parseRepoName, type GitHubAutofixConfig, type Logger } from '@agentq/shared';
import type { Octokit } from '@octokit/core';
import { githubUnavailable, statusOf } from '../github-unavailable.js';

/** Whether a repository's pull requests get automatic follow-ups, and how many in a row. */
export interface AutofixSettings {
  ci: boolean;
  reviews: boolean;
  maxAttempts: number;
}

/**
 * The repository's `autofix` settings over the service's: `.agentq.yml` (or `.agentq.yaml`) read
 * from the repository's default branch through the contents API (never from a pull request's
 * branch: a branch cannot turn the loop on for itself). The file's `ci` and `reviews` win; its
 * `maxAttempts` can only lower the service's cap. A file that cannot be used is logged and the
 * service's settings apply.
 */
export async function autofixSettings(octokit: Octokit, repo: string, global: GitHubAutofixConfig, log: Logger): Promise<AutofixSettings> {
  const settings: AutofixSettings = { ci: global.ci, reviews: global.reviews, maxAttempts: global.maxAttempts };
  const { owner, name } = parseRepoName(repo);
  for (const fileName of REPO_CONFIG_FILES) {
    let data: { type?: unknown; size?: unknown; encoding?: unknown; content?: unknown };
    try {
      // no `ref`: the default branch
      const res = await octokit.request('GET /repos/{owner}/{repo}/contents/{path}', { owner, repo: name, path: fileName });
      data = res.data as typeof data;
    } catch (err) {
      if (statusOf(err) === 404) continue;
      throw githubUnavailable(err);
    }
    if (Array.isArray(data) || data.type !== 'file' || data.encoding !== 'base64' || typeof data.content !== 'string' || typeof data.size !== 'number' || data.size > REPO_CONFIG_MAX_BYTES) {
      log.warn({ file: fileName }, 'repository settings file not usable; the service settings apply');
      return settings;
    }
    try {
      const autofix = parseRepoConfig(Buffer.from(data.content, 'base64').toString('utf8'), fileName).autofix;
      if (autofix?.ci !== undefined) settings.ci = autofix.ci;
      if (autofix?.reviews !== undefined) settings.reviews = autofix.reviews;
      if (autofix?.maxAttempts !== undefined) settings.maxAttempts = Math.min(autofix.maxAttempts, global.maxAttempts);
    } catch (err) {
      log.warn({ file: fileName, err: errorMessage(err) }, 'repository settings file not valid; the service settings apply');
    }
    return settings;
  }
  return settings;
}
