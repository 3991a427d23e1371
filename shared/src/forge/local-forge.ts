import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { AgentqError } from '../errors.js';
import { REPO_PATTERN } from '../tasks/task-request.js';
import { git } from './git.js';

/**
 * The local git forge: bare repositories at `<dataDir>/repos/<owner>/<name>.git`. Without a
 * GitHub App, tasks clone from and push their branch to these.
 */
export class LocalForge {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'repos');
  }

  path(repo: string): string {
    if (!REPO_PATTERN.test(repo)) {
      throw new AgentqError('FORGE_BAD_REPO_NAME', `repository name ${JSON.stringify(repo)} must look like "owner/name"`, { status: 400 });
    }
    const [owner, name] = repo.split('/') as [string, string];
    return join(this.root, owner, `${name}.git`);
  }

  url(repo: string): string {
    return `file://${this.path(repo)}`;
  }

  has(repo: string): boolean {
    return existsSync(join(this.path(repo), 'HEAD'));
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    const owners = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    for (const owner of owners) {
      if (!owner.isDirectory()) continue;
      const names = await readdir(join(this.root, owner.name), { withFileTypes: true });
      for (const name of names) {
        if (name.isDirectory() && name.name.endsWith('.git')) out.push(`${owner.name}/${name.name.slice(0, -4)}`);
      }
    }
    return out.sort();
  }

  /** Imports a repository from a local path or a git URL as a bare mirror of its branches. */
  async add(repo: string, source: string): Promise<void> {
    const target = this.path(repo);
    if (this.has(repo)) {
      throw new AgentqError('FORGE_REPO_EXISTS', `repository ${repo} already exists`, { status: 409 });
    }
    const from = /^[a-z][a-z0-9+.-]*:\/\//i.test(source) || isAbsolute(source) ? source : resolve(source);
    if (from.startsWith('-')) throw new AgentqError('FORGE_BAD_SOURCE', 'source must be a path or URL', { status: 400 });
    await mkdir(dirname(target), { recursive: true });
    try {
      await git(['clone', '--bare', '--quiet', '--', from, target]);
    } catch (err) {
      await rm(target, { recursive: true, force: true });
      throw new AgentqError('FORGE_IMPORT_FAILED', `could not import ${repo} from ${source}: ${(err as Error).message}`, {
        status: 422,
        cause: err,
      });
    }
  }

  /** Creates `repo` with the given files as one commit on `main`, unless it exists. Returns true if created. */
  async seed(repo: string, files: Record<string, string>, author = { name: 'agentq', email: 'agentq@localhost' }): Promise<boolean> {
    if (this.has(repo)) return false;
    const work = await mkdtemp(join(tmpdir(), 'agentq-seed-'));
    try {
      await git(['init', '--quiet', '--initial-branch=main', work]);
      for (const [name, content] of Object.entries(files)) {
        await mkdir(dirname(join(work, name)), { recursive: true });
        await writeFile(join(work, name), content);
      }
      await git(['add', '-A'], { cwd: work });
      await git(['-c', `user.name=${author.name}`, '-c', `user.email=${author.email}`, 'commit', '--quiet', '-m', 'Initial commit'], {
        cwd: work,
      });
      await mkdir(dirname(this.path(repo)), { recursive: true });
      await git(['clone', '--bare', '--quiet', '--', work, this.path(repo)]);
      return true;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** The commit a branch points at, or undefined when the branch does not exist. */
  async branchCommit(repo: string, branch: string): Promise<string | undefined> {
    try {
      const { stdout } = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { cwd: this.path(repo) });
      return stdout.trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /** A file of `repo` at a ref (see `readRepoFile`); undefined when the ref or the file is not there. */
  async readFile(repo: string, ref: string | undefined, path: string, maxBytes: number): Promise<RepoFile | undefined> {
    return readRepoFile(this.path(repo), ref, path, maxBytes);
  }
}

/** A regular file read from a repository. */
export interface RepoFile {
  /** The blob's object id. */
  sha: string;
  size: number;
  /** Undefined when the file is larger than the size limit it was read with. */
  content: string | undefined;
}

const SAFE_REF = /^[A-Za-z0-9._/-]{1,200}$/;
const SAFE_PATH = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/**
 * Reads a regular file (UTF-8) at a ref of the repository at `gitDir` (bare or not), as a run
 * starting there would see it: `ref` is looked up as a branch, then a tag, then any revision (a
 * commit id); undefined means `HEAD` (the default branch). Content larger than `maxBytes` is not
 * read. Undefined when the ref or the file does not exist, or the path is not a regular file.
 */
export async function readRepoFile(gitDir: string, ref: string | undefined, path: string, maxBytes: number): Promise<RepoFile | undefined> {
  if (!SAFE_PATH.test(path) || path.split('/').some((part) => part === '.' || part === '..')) {
    throw new AgentqError('FORGE_BAD_PATH', `${JSON.stringify(path)} is not a plain relative path`);
  }
  if (ref !== undefined && (!SAFE_REF.test(ref) || ref.startsWith('-') || ref.includes('..'))) return undefined;
  const candidates = ref === undefined ? ['HEAD'] : [`refs/heads/${ref}`, `refs/tags/${ref}`, ref];
  let commit: string | undefined;
  for (const candidate of candidates) {
    commit = await git(['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`], { cwd: gitDir }).then(
      ({ stdout }) => stdout.trim() || undefined,
      () => undefined,
    );
    if (commit) break;
  }
  if (!commit) return undefined;
  // `<mode> <type> <object> <size>\t<path>`, NUL-terminated
  const { stdout: entry } = await git(['ls-tree', '-l', '-z', commit, '--', path], { cwd: gitDir });
  const match = /^(100644|100755) blob ([0-9a-f]+) +(\d+)\t([^\0]*)\0/.exec(entry);
  if (!match || match[4] !== path) return undefined;
  const sha = match[2] as string;
  const size = Number(match[3]);
  if (size > maxBytes) return { sha, size, content: undefined };
  const { stdout: content } = await git(['cat-file', 'blob', sha], { cwd: gitDir });
  return { sha, size, content };
}

/** The repository `npm start` creates so the quick start works with nothing else. */
export const DEMO_REPO = 'demo/hello';
export const DEMO_REPO_FILES: Record<string, string> = {
  'README.md': '# hello\n\nA tiny repository for trying agentq.\n',
  'hello.js': "console.log('hello, world');\n",
};
