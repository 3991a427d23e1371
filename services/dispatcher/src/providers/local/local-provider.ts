import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { cp, lstat, mkdir, readFile, readdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { tailLines } from './file-tail.js';
import { pauseUntilWritten } from './exit-watch.js';
import { isGroupAlive, killGroup, processStartTime } from './process-group.js';
import { JAIL_FILE, PRIVATE_GIT_DIR, checkBwrap, findProgram, writeJail, type LocalIsolation } from './jail.js';
import type {
  OutputLine,
  SandboxHandle,
  SandboxInfo,
  SandboxInheritance,
  SandboxProvider,
  SandboxSpec,
  SandboxStatus,
} from '../sandbox-provider.js';
import { InheritUnavailableError, SandboxExistsError, TerminateFailedError, dispatchError } from '../../dispatch-errors.js';

export interface LocalProviderOptions {
  /** Sandboxes live in `<dataDir>/sandboxes/<id>/`. */
  dataDir: string;
  /** Time between SIGTERM and SIGKILL on terminate. */
  graceMs?: number;
  /** How often the output file is polled. */
  pollMs?: number;
  /**
   * How the untrusted part of a run is isolated (see `jail.ts`): with `bwrap`, every sandbox gets
   * a jail script, named in `AGENTQ_JAIL`, that the run script runs setup commands and the agent
   * through. Default `none`; `createProvider` resolves the configured choice with `resolveIsolation`.
   */
  isolation?: LocalIsolation;
  /** The bubblewrap binary (default: `bwrap` on `PATH`). */
  bwrap?: string;
  /** Paths of this machine the agent may read besides the system directories (`AGENTQ_LOCAL_READ_PATHS`). */
  readPaths?: readonly string[];
  /** Files hidden from the agent even inside a visible directory (secret files named by the configuration). */
  hide?: readonly string[];
  /** Why the isolation is `none`, when it is (shown by `/healthz`). */
  isolationNote?: string;
}

/** The isolation in effect, and why when it is not the one asked for. */
export interface IsolationChoice {
  isolation: LocalIsolation;
  /** Why agents run unisolated, when they do. */
  reason?: string;
}

/** What `sandbox.json` holds. */
interface SandboxMeta {
  id: string;
  tags: Record<string, string>;
  createdAt: string;
  /** Process group id (= pid of the wrapper, the group leader). */
  pgid?: number;
  /** Start time of the group leader, to tell it apart from a later process with the same pid. */
  startTime?: string;
}

/**
 * Runs the command, then records its exit code. `$1` is the sandbox directory; the pid file lets a
 * supervisor find the process group, and disappears when the run ends (before the exit code appears).
 */
const WRAPPER = [
  'd=$1; shift',
  `printf '%s\\n' "$$" > "$d/pid.tmp" && mv -f "$d/pid.tmp" "$d/pid"`,
  '"$@"',
  'code=$?',
  'rm -f "$d/pid"',
  `printf '%s\\n' "$code" > "$d/exit-code.tmp" && mv -f "$d/exit-code.tmp" "$d/exit-code"`,
  'exit "$code"',
].join('\n');

const ID_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;
/** Names of the private files of `SandboxSpec.files`: not one of the sandbox's own entries. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const RESERVED = new Set(['home', 'tmp', 'output.log', 'exit-code', 'sandbox.json', 'pid', 'pid.tmp', 'exit-code.tmp', 'sandbox.json.tmp', JAIL_FILE, PRIVATE_GIT_DIR]);

function privateFileName(name: string): string {
  if (!FILE_NAME.test(name) || RESERVED.has(name) || name.endsWith('.tmp')) {
    throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', `${JSON.stringify(name)} is not a usable sandbox file name`);
  }
  return name;
}

/** Writes a file only its owner can read, replacing any earlier one atomically. */
async function writePrivateFile(dir: string, name: string, content: string): Promise<void> {
  const path = join(dir, privateFileName(name));
  await writeFile(`${path}.tmp`, content, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
/** Kept by `release()`: the agent's home (session files), the output and the exit code. */
const KEPT = new Set(['home', 'output.log', 'exit-code', 'sandbox.json']);

/**
 * The dispatcher's PATH with the directory of its node binary first. Relative entries are dropped:
 * in the sandbox they would point into the agent's working tree.
 */
function searchPath(): string {
  const entries = [dirname(process.execPath), ...(process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)];
  return [...new Set(entries.filter((e) => isAbsolute(e)))].join(delimiter);
}

/**
 * The `local` sandbox provider: a process group per task on this machine, in
 * `<dataDir>/sandboxes/<taskId>/` with its own HOME and TMPDIR and a scrubbed environment. Output
 * goes straight to `output.log` (a file, not a pipe), so the agent keeps running if the dispatcher
 * dies and a new dispatcher re-attaches by reading the file.
 */
export class LocalSandboxProvider implements SandboxProvider {
  readonly name = 'local';
  readonly root: string;
  readonly isolation: { mode: LocalIsolation; note?: string };
  private readonly graceMs: number;
  private readonly pollMs: number;
  private readonly dataDir: string;
  private readonly bwrap: string | undefined;
  private readonly readPaths: readonly string[];
  private readonly hide: readonly string[];

  constructor(options: LocalProviderOptions) {
    this.dataDir = options.dataDir;
    this.root = join(options.dataDir, 'sandboxes');
    this.graceMs = options.graceMs ?? 2000;
    this.pollMs = options.pollMs ?? 75;
    this.isolation = { mode: options.isolation ?? 'none', ...(options.isolationNote ? { note: options.isolationNote } : {}) };
    this.bwrap = options.bwrap ?? findProgram('bwrap');
    this.readPaths = options.readPaths ?? [];
    this.hide = options.hide ?? [];
    if (this.isolation.mode === 'bwrap' && !(this.bwrap && existsSync(this.bwrap))) {
      throw dispatchError('DISPATCH_ISOLATION_UNAVAILABLE', 'AGENTQ_LOCAL_ISOLATION=bwrap, but bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)');
    }
  }

  /**
   * The isolation to use: `bwrap` when asked for (an error when it does not work here), `none`
   * when asked for, and when nothing is asked for, `bwrap` if it works here, else `none` with the reason.
   */
  static async resolveIsolation(
    requested: LocalIsolation | undefined,
    options: { dataDir: string; bwrap?: string },
  ): Promise<IsolationChoice> {
    if (requested === 'none') return { isolation: 'none', reason: 'AGENTQ_LOCAL_ISOLATION=none' };
    const check = await checkBwrap(options.bwrap ?? findProgram('bwrap'), options.dataDir, join(options.dataDir, 'sandboxes'));
    if (check.ok) return { isolation: 'bwrap' };
    if (requested === 'bwrap') throw dispatchError('DISPATCH_ISOLATION_UNAVAILABLE', `AGENTQ_LOCAL_ISOLATION=bwrap, but ${check.reason}`);
    return { isolation: 'none', reason: check.reason };
  }

  dir(id: string): string {
    if (!ID_PATTERN.test(id)) throw dispatchError('DISPATCH_BAD_SANDBOX_ID', `invalid sandbox id ${JSON.stringify(id)}`);
    return join(this.root, id);
  }

  /** The environment of a sandbox: nothing of the dispatcher's own environment but PATH and LANG. */
  environment(dir: string, spec: SandboxSpec): Record<string, string> {
    return {
      ...spec.env,
      ...spec.secrets,
      PATH: searchPath(),
      HOME: join(dir, 'home'),
      TMPDIR: join(dir, 'tmp'),
      LANG: process.env.LANG || 'C.UTF-8',
    };
  }

  async create(spec: SandboxSpec): Promise<SandboxHandle> {
    const id = spec.taskId;
    const dir = this.dir(id);
    for (const name of Object.keys(spec.files ?? {})) privateFileName(name);
    const inherited = spec.inherit ? await this.inheritable(spec.inherit) : [];
    await mkdir(this.root, { recursive: true });
    try {
      await mkdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new SandboxExistsError(`a sandbox for ${id} exists already`);
      }
      throw err;
    }
    await mkdir(join(dir, 'home'));
    await mkdir(join(dir, 'tmp'));
    for (const [name, content] of Object.entries(spec.files ?? {})) await writePrivateFile(dir, name, content);
    const env = this.environment(dir, spec);
    if (this.isolation.mode === 'bwrap' && this.bwrap) {
      const readPaths = [...this.readPaths, ...(spec.readPaths ?? [])];
      env.AGENTQ_JAIL = await writeJail({ bwrap: this.bwrap, dataDir: this.dataDir, dir: await realpath(dir), readPaths, hide: this.hide });
    }
    for (const { from, to } of inherited) {
      await cp(from, join(dir, 'home', to), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    }
    const meta: SandboxMeta = { id, tags: spec.tags, createdAt: new Date().toISOString() };
    await this.writeMeta(dir, meta);

    const fd = openSync(join(dir, 'output.log'), 'a', 0o600);
    let pid: number | undefined;
    try {
      const child = spawn('bash', ['-c', WRAPPER, 'agentq-sandbox', dir, ...spec.command], {
        cwd: dir,
        env,
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      child.unref();
      pid = child.pid;
    } catch (err) {
      throw dispatchError('DISPATCH_SANDBOX_FAILED', `could not start the sandbox: ${(err as Error).message}`, { cause: err });
    } finally {
      closeSync(fd);
    }
    if (pid === undefined) throw dispatchError('DISPATCH_SANDBOX_FAILED', 'could not start the sandbox');
    meta.pgid = pid;
    meta.startTime = processStartTime(pid);
    await this.writeMeta(dir, meta);
    return new LocalSandboxHandle(dir, meta, this.graceMs, this.pollMs);
  }

  /** The files to copy from an earlier sandbox's home; throws when there are none. */
  private async inheritable(inherit: SandboxInheritance): Promise<{ from: string; to: string }[]> {
    const home = join(this.dir(inherit.sandboxId), 'home');
    const found: { from: string; to: string }[] = [];
    for (const path of inherit.homePaths) {
      const rel = normalize(path);
      if (isAbsolute(rel) || rel === '.' || rel.split(sep).includes('..')) {
        throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', `cannot inherit ${JSON.stringify(path)}: not a path inside the home`);
      }
      const from = join(home, rel);
      if (await lstat(from).then(() => true, () => false)) found.push({ from, to: rel });
    }
    if (found.length === 0) {
      throw new InheritUnavailableError(`sandbox ${inherit.sandboxId} has none of ${inherit.homePaths.join(', ')} in its home`);
    }
    return found;
  }

  async attach(sandboxId: string): Promise<SandboxHandle | undefined> {
    const dir = this.dir(sandboxId);
    const meta = await this.readMeta(dir);
    if (!meta) return undefined;
    return new LocalSandboxHandle(dir, meta, this.graceMs, this.pollMs);
  }

  async list(tags: Record<string, string>): Promise<SandboxInfo[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const out: SandboxInfo[] = [];
    for (const name of names) {
      if (!ID_PATTERN.test(name)) continue;
      const dir = join(this.root, name);
      const meta = await this.readMeta(dir);
      if (!meta) continue;
      if (!Object.entries(tags).every(([k, v]) => meta.tags[k] === v)) continue;
      const handle = new LocalSandboxHandle(dir, meta, this.graceMs, this.pollMs);
      out.push({ id: meta.id, tags: meta.tags, status: await handle.status(), createdAt: meta.createdAt });
    }
    return out;
  }

  async remove(sandboxId: string): Promise<void> {
    const handle = await this.attach(sandboxId);
    if (!handle) return;
    await handle.terminate();
    await rm(this.dir(sandboxId), { recursive: true, force: true });
  }

  private async writeMeta(dir: string, meta: SandboxMeta): Promise<void> {
    const path = join(dir, 'sandbox.json');
    await writeFile(`${path}.tmp`, `${JSON.stringify(meta, null, 2)}\n`);
    await rename(`${path}.tmp`, path);
  }

  private async readMeta(dir: string): Promise<SandboxMeta | undefined> {
    try {
      return JSON.parse(await readFile(join(dir, 'sandbox.json'), 'utf8')) as SandboxMeta;
    } catch {
      return undefined;
    }
  }
}

class LocalSandboxHandle implements SandboxHandle {
  readonly provider = 'local';
  readonly id: string;
  private terminating: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    private readonly meta: SandboxMeta,
    private readonly graceMs: number,
    private readonly pollMs: number,
  ) {
    this.id = meta.id;
  }

  /** Waits up to `ms`, less when the program's exit code is written meanwhile. */
  private readonly pause = (ms: number, signal?: AbortSignal) => pauseUntilWritten(this.dir, 'exit-code', ms, signal);

  /** The process group id, once the program was started. */
  get pgid(): number | undefined {
    return this.meta.pgid;
  }

  output(afterLine: number, signal?: AbortSignal): AsyncIterable<OutputLine[]> {
    return tailLines(join(this.dir, 'output.log'), {
      afterLine,
      signal,
      pollMs: this.pollMs,
      pause: this.pause,
      finished: async () => (await this.status()).state !== 'running',
    });
  }

  private async exitCode(): Promise<number | undefined> {
    try {
      const text = (await readFile(join(this.dir, 'exit-code'), 'utf8')).trim();
      return /^\d+$/.test(text) ? Number(text) : undefined;
    } catch {
      return undefined;
    }
  }

  private leaderIsOurs(): boolean {
    const { pgid, startTime } = this.meta;
    if (pgid === undefined) return false;
    const now = processStartTime(pgid);
    // the leader may be gone while other members run on; a different start time means a new process
    return now === undefined || startTime === undefined || now === startTime;
  }

  async status(): Promise<SandboxStatus> {
    const code = await this.exitCode();
    if (code !== undefined) return { state: 'exited', exitCode: code };
    const pgid = this.meta.pgid;
    if (pgid !== undefined && this.leaderIsOurs() && isGroupAlive(pgid)) return { state: 'running' };
    const late = await this.exitCode();
    return late !== undefined ? { state: 'exited', exitCode: late } : { state: 'lost' };
  }

  async wait(signal?: AbortSignal): Promise<SandboxStatus> {
    for (;;) {
      const status = await this.status();
      if (status.state !== 'running' || signal?.aborted) return status;
      await this.pause(this.pollMs, signal);
    }
  }

  terminate(): Promise<void> {
    this.terminating ??= (async () => {
      const pgid = this.meta.pgid;
      if (pgid !== undefined && this.leaderIsOurs()) {
        const gone = await killGroup(pgid, this.graceMs);
        if (!gone) {
          this.terminating = undefined;
          throw new TerminateFailedError(`process group ${pgid} survived SIGKILL`);
        }
      }
      await rm(join(this.dir, 'pid'), { force: true });
    })();
    return this.terminating;
  }

  async writeFile(name: string, content: string): Promise<void> {
    await writePrivateFile(this.dir, name, content);
  }

  async readFile(name: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.dir, privateFileName(name)), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async release(): Promise<void> {
    // also what the program left running in its group when it exited
    await this.terminate();
    await rm(join(this.dir, 'pid'), { force: true });
    const entries = await readdir(this.dir).catch(() => [] as string[]);
    for (const entry of entries) {
      if (!KEPT.has(entry)) await rm(join(this.dir, entry), { recursive: true, force: true });
    }
  }
}
