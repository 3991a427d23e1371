import { AgentqError } from '../errors.js';

export interface RepoName {
  owner: string;
  name: string;
}

const REPO_RE = /^([A-Za-z0-9][A-Za-z0-9._-]*)\/([A-Za-z0-9._-]+)$/;

/** Splits `owner/name`; anything else is refused with `GITHUB_INVALID_REPO`. */
export function parseRepoName(repo: string): RepoName {
  const match = REPO_RE.exec(repo);
  if (!match || match[2] === '.' || match[2] === '..') {
    throw new AgentqError('GITHUB_INVALID_REPO', 'repository must be owner/name', { status: 422, details: { repo } });
  }
  return { owner: match[1] as string, name: match[2] as string };
}

/** Does `owner/name` match a rule pattern (`owner/name`, `owner/*` or `*`)? Case-insensitive, as GitHub names are. */
export function repoMatches(pattern: string, repo: string): boolean {
  if (pattern === '*') return true;
  const p = pattern.toLowerCase();
  const r = repo.toLowerCase();
  if (p.endsWith('/*')) return r.startsWith(p.slice(0, -1)) && !r.slice(p.length - 1).includes('/');
  return p === r;
}
