import {
  REPO_CONFIG_FILES,
  REPO_CONFIG_MAX_BYTES,
  errorMessage,
  parseRepoConfig,
  parseRepoName,
  repoConfigTooLarge,
  type GitHubApp,
  type LocalForge,
  type RepoConfig,
  type TaskRecord,
} from '@agentq/shared';
import { dispatchError } from '../dispatch-errors.js';

/** Where a run's repository settings are read from. */
export interface RepoConfigLocation {
  repo: string;
  forge: 'local' | 'github';
  /** The branch, tag or commit the run starts from; undefined: the default branch. */
  ref: string | undefined;
  /** GitHub: the task's installation token (it can read the repository's contents). */
  token?: string;
}

/** A repository's settings file, read and validated. */
export interface LoadedRepoConfig {
  fileName: string;
  config: RepoConfig;
}

export interface RepoConfigSourceOptions {
  forge: LocalForge;
  /** The GitHub App, when one is configured (its Octokit reads the file with the task's token). */
  github?: Pick<GitHubApp, 'tokenOctokit'>;
  /** Longest wait for one GitHub API request. */
  requestTimeoutMs?: number;
}

const GITHUB_TIMEOUT_MS = 30_000;

/** What a file lookup found: nothing, or a file (its text undefined when larger than the limit). */
type Found = { size: number; text: string | undefined } | undefined;

interface GitHubContent {
  type?: unknown;
  encoding?: unknown;
  size?: unknown;
  content?: unknown;
}

/**
 * Reads a repository's `.agentq.yml` (or `.agentq.yaml`) at the ref a run starts from: from the
 * local forge, or through GitHub's contents API with the task's installation token. No file: no
 * settings. A file that is too large, not YAML or not valid fails with `DISPATCH_REPO_CONFIG_INVALID`;
 * a file that cannot be read with `DISPATCH_REPO_CONFIG_UNREADABLE` (local forge) or
 * `DISPATCH_GITHUB_API_ERROR`.
 */
export class RepoConfigSource {
  constructor(private readonly options: RepoConfigSourceOptions) {}

  async load(location: RepoConfigLocation): Promise<LoadedRepoConfig | undefined> {
    for (const fileName of REPO_CONFIG_FILES) {
      const found = location.forge === 'github' ? await this.readGitHub(location, fileName) : await this.readLocal(location, fileName);
      if (!found) continue;
      if (found.text === undefined) throw repoConfigTooLarge(fileName, found.size);
      return { fileName, config: parseRepoConfig(found.text, fileName) };
    }
    return undefined;
  }

  private async readLocal(location: RepoConfigLocation, fileName: string): Promise<Found> {
    try {
      const file = await this.options.forge.readFile(location.repo, location.ref, fileName, REPO_CONFIG_MAX_BYTES);
      return file && { size: file.size, text: file.content };
    } catch (err) {
      throw dispatchError('DISPATCH_REPO_CONFIG_UNREADABLE', `could not read ${fileName} of ${location.repo}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private async readGitHub(location: RepoConfigLocation, fileName: string): Promise<Found> {
    const { github } = this.options;
    if (!github || !location.token) {
      throw dispatchError('DISPATCH_INTERNAL', `cannot read ${fileName} of ${location.repo} without GitHub access`);
    }
    const { owner, name } = parseRepoName(location.repo);
    const failure = (reason: string, cause?: unknown) =>
      dispatchError('DISPATCH_GITHUB_API_ERROR', `could not read ${fileName} of ${location.repo} from GitHub (${reason})`, { cause });
    let data: unknown;
    try {
      const res = await github.tokenOctokit(location.token).request('GET /repos/{owner}/{repo}/contents/{path}', {
        owner,
        repo: name,
        path: fileName,
        ...(location.ref === undefined ? {} : { ref: location.ref }),
        request: { signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? GITHUB_TIMEOUT_MS) },
      });
      data = res.data;
    } catch (err) {
      const status = (err as { status?: unknown } | null)?.status;
      // no such file, or no such ref (the run then fails on the ref itself)
      if (status === 404) return undefined;
      throw failure(typeof status === 'number' ? `HTTP ${status}` : errorMessage(err), err);
    }
    // a directory is an array; a symlink to outside the repository, a submodule: not a settings file
    const content = data as GitHubContent;
    if (Array.isArray(data) || typeof data !== 'object' || data === null || content.type !== 'file') return undefined;
    if (typeof content.size !== 'number') throw failure('the answer has no size');
    if (content.size > REPO_CONFIG_MAX_BYTES) return { size: content.size, text: undefined };
    if (content.encoding !== 'base64' || typeof content.content !== 'string') throw failure('the answer has no base64 content');
    return { size: content.size, text: Buffer.from(content.content, 'base64').toString('utf8') };
  }
}

function clip(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * One line for the task's events saying what the repository's file sets, and where the task's own
 * values win over it.
 */
export function describeRepoConfig(loaded: LoadedRepoConfig, task: Pick<TaskRecord, 'harness' | 'model' | 'limits'>, ref: string | undefined): string {
  const c = loaded.config;
  const parts: string[] = [];
  const own = (value: string | number | undefined) => (value === undefined ? '' : ` (the task's own ${value} applies)`);
  if (c.image !== undefined) parts.push(`image ${c.image}`);
  if (c.setup?.length) parts.push(`setup: ${c.setup.map((cmd, i) => `${i + 1}. ${clip(cmd, 120)}`).join(' ')}`);
  if (c.allowedDomains?.length) parts.push(`allowed domains ${c.allowedDomains.join(', ')}`);
  if (c.harness !== undefined) parts.push(`harness ${c.harness}${own(task.harness)}`);
  if (c.model !== undefined) parts.push(`model ${c.model}${own(task.model)}`);
  if (c.maxTurns !== undefined) parts.push(`max turns ${c.maxTurns}${own(task.limits?.maxTurns)}`);
  const where = ref === undefined ? 'the default branch' : ref;
  return `settings from ${loaded.fileName} at ${where}: ${parts.length > 0 ? parts.join('; ') : 'none'}`;
}
