import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import Dockerode from 'dockerode';
import { extract, pack, type Pack } from 'tar-stream';

/**
 * A fake Docker Engine API on 127.0.0.1 (a random port), for the real dockerode client. It
 * implements the endpoints the `docker` provider uses, with the engine's status codes and
 * `{message}` error bodies: `_ping`; image inspect and pull (`POST /images/create`, answered from a
 * configurable set of images); container create (409 on a taken name), start, inspect, list (`all`,
 * label filters), logs (`follow`, `stdout`, `stderr`; the 8-byte-header multiplexed format of
 * containers without a TTY), wait, kill, stop (`t`), remove (`force`), archive HEAD/GET/PUT (tar);
 * exec create/start/inspect. Anything else answers 404 `{message: "page not found"}`. API version
 * prefixes (`/v1.43/...`) are accepted and ignored.
 *
 * Containers are process groups on this machine. Each has a host directory `<root>/<id>/fs` that
 * stands for its filesystem:
 * - the archive endpoints map container path `/p` to `<root>/<id>/fs/p`;
 * - the processes run on the host, so in the Entrypoint, Cmd, Env values, WorkingDir and exec
 *   Cmd, every occurrence of a mapped directory (`/agentq` unless `mappedDirs` says otherwise) is
 *   rewritten to `<root>/<id>/fs/agentq`. A command that uses `/agentq/...` (or `$HOME` set to
 *   it) sees the same files as the archive endpoints. Every other path is the host's own
 *   (`bash`, `/tmp`, ...).
 * - the environment is the container's `Env` over the image's (`PATH` of this process, nothing else
 *   of it), like a container's.
 * Output is logged the way the engine's log copier does it: whole lines; an unfinished last line
 * reaches the log only after the container stopped, when `follow` streams have ended already (as
 * they do on a real engine). When a container's main process exits, what it left running in its
 * group is killed (a container's PID namespace ends with its first process). `stop` sends SIGTERM to the main process
 * only (as `docker-init` forwards it), then SIGKILL to the whole group after `t` seconds.
 *
 * Tests inject failures with `fail()` (the next matching requests answer an error status),
 * `cutLogStreams()` (log streams that break or end after some bytes), `unreachable` (connections are
 * dropped) or `close()` (nothing listens any more).
 */

export interface FakeDockerEngineOptions {
  /** Images the engine has (`name:tag`; `:latest` when no tag is given). */
  images?: string[];
  /** Images a pull can get; a pull of any other answers 404 like a registry without it. */
  pullable?: string[];
  /** Images whose pull answers 200 with this error in the progress stream. */
  pullErrors?: Record<string, string>;
  /** The user (`Config.User`) of images, by name; root when absent. */
  imageUsers?: Record<string, string>;
  /** Files of images (container path → content), by name: each new container of the image starts with them. */
  imageFiles?: Record<string, Record<string, string>>;
  /** Container directories mapped onto each container's host directory (default `['/agentq']`). */
  mappedDirs?: string[];
  /** Largest payload of one log frame: output is cut into frames of at most this many bytes. */
  frameSize?: number;
  /**
   * How long after a container wrote output the engine has it in its log (default 20 ms); the
   * container counts as stopped that long after its streams closed.
   */
  logLagMs?: number;
}

export interface FakeCall {
  method: string;
  /** Path without an API version prefix. */
  path: string;
  /** The raw request URL, as sent. */
  url: string;
  query: Record<string, string>;
  /** Parsed JSON body of the requests that have one. */
  body?: unknown;
  /** What an archive upload extracted, with the owners its headers named (not applied: the fake runs unprivileged). */
  entries?: { name: string; type: string; mode: number; uid: number; gid: number }[];
}

export interface FailureRule {
  method?: string;
  /** Matched against the path without version prefix or query. */
  path: RegExp;
  status: number;
  message?: string;
  /** How many requests it answers (default 1). */
  times?: number;
}

interface Frame {
  stream: number;
  data: Buffer;
}

interface Follower {
  res: ServerResponse;
  stdout: boolean;
  stderr: boolean;
  /** Bytes after which the stream is cut. */
  cutAfter?: number;
  /** How: the connection dropped mid-frame, or the answer ended at a frame boundary. */
  cutHow?: 'drop' | 'end';
  written: number;
}

type ContainerState = 'created' | 'running' | 'exited';

export interface FakeContainer {
  id: string;
  name: string;
  image: string;
  created: Date;
  /** The create request's body. */
  config: Record<string, unknown>;
  labels: Record<string, string>;
  /** The host directory standing for the container's `/`. */
  fsDir: string;
  state: ContainerState;
  exitCode: number;
  startedAt?: Date;
  finishedAt?: Date;
  pid?: number;
  frames: Frame[];
  /** Output after the last newline, per stream, not in the log yet. */
  partial: Map<number, Buffer>;
  followers: Set<Follower>;
  exitWaiters: Set<() => void>;
  execs: Set<ChildProcess>;
}

interface FakeExec {
  id: string;
  container: FakeContainer;
  cmd: string[];
  workingDir: string | undefined;
  env: string[];
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
}

class EngineError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Bytes the engine's log copier buffers before it stores part of a line. */
const COPY_BUFFER = 16 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function normalizeImage(ref: string): string {
  if (ref.includes('@')) return ref;
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  return last.includes(':') ? ref : `${ref}:latest`;
}

function truthy(value: string | undefined): boolean {
  return value === '1' || value === 'true' || value === 'True';
}

function signalGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // gone already
  }
}

function signalProcess(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

export function encodeFrame(stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

export class FakeDockerEngine {
  readonly calls: FakeCall[] = [];
  /** When true, every connection is dropped as soon as it opens. */
  unreachable = false;
  private readonly containers = new Map<string, FakeContainer>();
  private readonly execs = new Map<string, FakeExec>();
  private readonly images = new Set<string>();
  private readonly failures: (FailureRule & { left: number })[] = [];
  private logCuts: { afterBytes: number; how: 'drop' | 'end' }[] = [];
  private readonly sockets = new Set<Socket>();
  private closed = false;

  private constructor(
    private readonly server: Server,
    readonly root: string,
    readonly port: number,
    private readonly options: FakeDockerEngineOptions,
  ) {
    for (const image of options.images ?? []) this.images.add(normalizeImage(image));
  }

  static async start(options: FakeDockerEngineOptions = {}): Promise<FakeDockerEngine> {
    const root = await mkdtemp(join(tmpdir(), 'agentq-fake-docker-'));
    // the server exists before the engine that answers on it
    const ref: { engine?: FakeDockerEngine } = {};
    const server = createServer((req, res) => {
      if (!ref.engine) return void res.destroy();
      void ref.engine.handle(req, res);
    });
    server.on('connection', (socket: Socket) => {
      const engine = ref.engine;
      if (engine?.unreachable) return void socket.destroy();
      engine?.sockets.add(socket);
      socket.on('close', () => engine?.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const engine = new FakeDockerEngine(server, root, (server.address() as AddressInfo).port, options);
    ref.engine = engine;
    return engine;
  }

  /** A dockerode client talking to this engine. */
  client(): Dockerode {
    return new Dockerode({ host: '127.0.0.1', port: this.port, protocol: 'http' });
  }

  /** The next `times` requests matching the rule answer `status` with `{message}`. */
  fail(rule: FailureRule): void {
    this.failures.push({ ...rule, left: rule.times ?? 1 });
  }

  /**
   * The next `count` log streams are cut after about `afterBytes` bytes: `drop` drops the
   * connection mid-frame (a broken stream), `end` ends the answer at a frame boundary while the
   * container runs (as a proxy's idle timeout would).
   */
  cutLogStreams(count: number, afterBytes: number, how: 'drop' | 'end' = 'drop'): void {
    for (let i = 0; i < count; i++) this.logCuts.push({ afterBytes, how });
  }

  /** Makes an image pullable from now on. */
  addPullable(image: string): void {
    (this.options.pullable ??= []).push(image);
  }

  hasImage(image: string): boolean {
    return this.images.has(normalizeImage(image));
  }

  /** A container by id, unique id prefix or name. */
  container(ref: string): FakeContainer | undefined {
    const exact = this.containers.get(ref);
    if (exact) return exact;
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    for (const c of this.containers.values()) if (c.name === name) return c;
    const byPrefix = [...this.containers.values()].filter((c) => c.id.startsWith(ref));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  }

  allContainers(): FakeContainer[] {
    return [...this.containers.values()];
  }

  /** Everything in the output of a container, as the engine stored it. */
  output(ref: string): string {
    return Buffer.concat((this.container(ref)?.frames ?? []).map((f) => f.data)).toString('utf8');
  }

  /** Host path of a container path (through the container's host directory). */
  hostPath(ref: string, containerPath: string): string {
    const c = this.container(ref);
    if (!c) throw new Error(`no container ${ref}`);
    return this.fsPath(c, containerPath);
  }

  /** Stops listening; kills every container process and deletes the host directories. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.containers.values()) await this.killContainer(c);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
    });
    await rm(this.root, { recursive: true, force: true });
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://engine');
    const path = url.pathname.replace(/^\/v\d+\.\d+(?=\/)/, '');
    const method = req.method ?? 'GET';
    const query = Object.fromEntries(url.searchParams.entries());
    const call: FakeCall = { method, path, url: req.url ?? '', query };
    this.calls.push(call);
    try {
      const failure = this.failures.find((f) => f.left > 0 && (f.method ?? method) === method && f.path.test(path));
      if (failure) {
        failure.left -= 1;
        await drain(req);
        throw new EngineError(failure.status, failure.message ?? 'injected failure');
      }
      await this.route(method, path, query, req, res, call);
    } catch (err) {
      const status = err instanceof EngineError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(`${JSON.stringify({ message })}\n`);
      } else {
        res.destroy();
      }
    }
  }

  private async route(method: string, path: string, query: Record<string, string>, req: IncomingMessage, res: ServerResponse, call: FakeCall): Promise<void> {
    let m: RegExpExecArray | null;
    if (path === '/_ping' && (method === 'GET' || method === 'HEAD')) {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Api-Version': '1.43' });
      return void res.end(method === 'HEAD' ? undefined : 'OK');
    }
    if (method === 'GET' && (m = /^\/images\/(.+)\/json$/.exec(path))) return this.imageInspect(decodeURIComponent(m[1] ?? ''), res);
    if (method === 'POST' && path === '/images/create') return this.pull(query, req, res);
    if (method === 'POST' && path === '/containers/create') {
      const body = await readJson(req);
      call.body = body;
      return this.create(query, body, res);
    }
    if (method === 'GET' && path === '/containers/json') return this.list(query, res);
    if ((m = /^\/containers\/([^/]+)(\/.*)?$/.exec(path))) {
      const c = this.mustFind(decodeURIComponent(m[1] ?? ''));
      const action = m[2] ?? '';
      if (method === 'GET' && action === '/json') return json(res, 200, this.inspect(c));
      if (method === 'POST' && action === '/start') return this.startContainer(c, res);
      if (method === 'GET' && action === '/logs') return this.logs(c, query, res);
      if (method === 'POST' && action === '/wait') return this.wait(c, query, req, res);
      if (method === 'POST' && action === '/kill') return this.kill(c, query, res);
      if (method === 'POST' && action === '/stop') return this.stop(c, query, res);
      if (method === 'DELETE' && action === '') return this.remove(c, query, res);
      if (action === '/archive' && (method === 'GET' || method === 'HEAD')) return this.getArchive(c, query, method, res);
      if (action === '/archive' && method === 'PUT') return this.putArchive(c, query, req, res, call);
      if (method === 'POST' && action === '/exec') {
        const body = await readJson(req);
        call.body = body;
        return this.execCreate(c, body, res);
      }
    }
    if ((m = /^\/exec\/([^/]+)\/(start|json)$/.exec(path))) {
      const exec = this.execs.get(m[1] ?? '');
      if (!exec) throw new EngineError(404, `No such exec instance: ${m[1] ?? ''}`);
      if (method === 'POST' && m[2] === 'start') {
        const body = await readJson(req);
        call.body = body;
        return this.execStart(exec, body, res);
      }
      if (method === 'GET' && m[2] === 'json') return json(res, 200, this.execInspect(exec));
    }
    await drain(req);
    throw new EngineError(404, 'page not found');
  }

  private mustFind(ref: string): FakeContainer {
    const c = this.container(ref);
    if (!c) throw new EngineError(404, `No such container: ${ref}`);
    return c;
  }

  // ---- images ----

  private imageInspect(name: string, res: ServerResponse): void {
    const image = normalizeImage(name);
    if (!this.images.has(image)) throw new EngineError(404, `No such image: ${name}`);
    json(res, 200, {
      Id: `sha256:${Buffer.from(image).toString('hex').padEnd(64, '0').slice(0, 64)}`,
      RepoTags: [image],
      Config: { User: this.options.imageUsers?.[image] ?? this.options.imageUsers?.[name] ?? '', Env: [`PATH=${process.env.PATH ?? '/usr/bin:/bin'}`], Cmd: ['bash'], Entrypoint: null, WorkingDir: '' },
    });
  }

  private async pull(query: Record<string, string>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    await drain(req);
    const from = query.fromImage ?? '';
    const image = normalizeImage(from.includes('@') || !query.tag ? from : `${from}:${query.tag}`);
    const error = Object.entries(this.options.pullErrors ?? {}).find(([name]) => normalizeImage(name) === image)?.[1];
    const pullable = (this.options.pullable ?? []).some((name) => normalizeImage(name) === image);
    if (error === undefined && !pullable) {
      throw new EngineError(404, `pull access denied for ${from}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`);
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(`${JSON.stringify({ status: `Pulling from ${from}`, id: query.tag ?? 'latest' })}\r\n`);
    await sleep(5);
    if (error !== undefined) {
      res.end(`${JSON.stringify({ errorDetail: { message: error }, error })}\r\n`);
      return;
    }
    res.write(`${JSON.stringify({ status: 'Downloading', progressDetail: { current: 1, total: 2 }, id: 'abc' })}\r\n`);
    this.images.add(image);
    res.end(`${JSON.stringify({ status: `Status: Downloaded newer image for ${image}` })}\r\n`);
  }

  // ---- containers ----

  private async create(query: Record<string, string>, body: unknown, res: ServerResponse): Promise<void> {
    const config = (body ?? {}) as Record<string, unknown>;
    const image = typeof config.Image === 'string' ? config.Image : '';
    if (!image) throw new EngineError(400, 'config cannot be empty in order to create a container');
    if (!this.images.has(normalizeImage(image))) throw new EngineError(404, `No such image: ${image}`);
    const id = randomBytes(32).toString('hex');
    const name = query.name ?? `fake_${id.slice(0, 8)}`;
    if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) throw new EngineError(400, `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const clean = name.replace(/^\//, '');
    const taken = [...this.containers.values()].find((c) => c.name === clean);
    if (taken) {
      throw new EngineError(409, `Conflict. The container name "/${clean}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    const fsDir = join(this.root, id, 'fs');
    await mkdir(fsDir, { recursive: true });
    const files = Object.entries(this.options.imageFiles ?? {}).find(([name]) => normalizeImage(name) === normalizeImage(image))?.[1] ?? {};
    for (const [path, content] of Object.entries(files)) {
      const target = join(fsDir, posix.normalize(path));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
    }
    this.containers.set(id, {
      id,
      name: clean,
      image,
      created: new Date(),
      config,
      labels: { ...((config.Labels as Record<string, string> | undefined) ?? {}) },
      fsDir,
      state: 'created',
      exitCode: 0,
      frames: [],
      partial: new Map(),
      followers: new Set(),
      exitWaiters: new Set(),
      execs: new Set(),
    });
    json(res, 201, { Id: id, Warnings: [] });
  }

  private inspect(c: FakeContainer): Record<string, unknown> {
    const config = c.config;
    return {
      Id: c.id,
      Name: `/${c.name}`,
      Created: c.created.toISOString(),
      Path: (config.Entrypoint as string[] | undefined)?.[0] ?? '',
      Args: [...((config.Entrypoint as string[] | undefined) ?? []).slice(1), ...((config.Cmd as string[] | undefined) ?? [])],
      State: {
        Status: c.state,
        Running: c.state === 'running',
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: c.state === 'running' ? (c.pid ?? 0) : 0,
        ExitCode: c.exitCode,
        Error: '',
        StartedAt: (c.startedAt ?? new Date(0)).toISOString(),
        FinishedAt: (c.finishedAt ?? new Date(0)).toISOString(),
      },
      Image: `sha256:${c.image}`,
      Config: {
        Image: c.image,
        User: this.options.imageUsers?.[normalizeImage(c.image)] ?? '',
        Env: config.Env ?? [],
        Cmd: config.Cmd ?? null,
        Entrypoint: config.Entrypoint ?? null,
        WorkingDir: config.WorkingDir ?? '',
        Labels: c.labels,
        Tty: config.Tty ?? false,
      },
      HostConfig: config.HostConfig ?? {},
    };
  }

  private list(query: Record<string, string>, res: ServerResponse): void {
    const all = truthy(query.all);
    let labels: string[] = [];
    if (query.filters) {
      const filters = JSON.parse(query.filters) as Record<string, string[] | Record<string, boolean>>;
      for (const [key, value] of Object.entries(filters)) {
        if (key !== 'label') throw new EngineError(400, `invalid filter '${key}'`);
        labels = Array.isArray(value) ? value : Object.keys(value).filter((k) => value[k]);
      }
    }
    const matches = (c: FakeContainer) =>
      labels.every((filter) => {
        const at = filter.indexOf('=');
        if (at < 0) return filter in c.labels;
        return c.labels[filter.slice(0, at)] === filter.slice(at + 1);
      });
    const out = [...this.containers.values()]
      .filter((c) => (all || c.state === 'running') && matches(c))
      .map((c) => ({
        Id: c.id,
        Names: [`/${c.name}`],
        Image: c.image,
        ImageID: `sha256:${c.image}`,
        Command: [...((c.config.Entrypoint as string[] | undefined) ?? []), ...((c.config.Cmd as string[] | undefined) ?? [])].join(' '),
        Created: Math.floor(c.created.getTime() / 1000),
        Ports: [],
        Labels: c.labels,
        State: c.state,
        Status: c.state === 'running' ? 'Up Less than a second' : c.state === 'exited' ? `Exited (${c.exitCode}) Less than a second ago` : 'Created',
        HostConfig: { NetworkMode: ((c.config.HostConfig as Record<string, unknown> | undefined)?.NetworkMode as string | undefined) ?? 'default' },
        NetworkSettings: { Networks: {} },
        Mounts: [],
      }));
    json(res, 200, out);
  }

  /** The container's mapped directories rewritten to its host directory (see the file comment). */
  private mapText(c: FakeContainer, text: string): string {
    let out = text;
    for (const dir of this.options.mappedDirs ?? ['/agentq']) {
      const escaped = dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      out = out.replace(new RegExp(`${escaped}(?=/|$|[^A-Za-z0-9_.-])`, 'g'), () => c.fsDir + dir);
    }
    return out;
  }

  private fsPath(c: FakeContainer, containerPath: string): string {
    if (!containerPath.startsWith('/')) throw new EngineError(400, `path ${containerPath} is not absolute`);
    const normalized = posix.normalize(containerPath);
    return normalized === '/' ? c.fsDir : join(c.fsDir, normalized);
  }

  private environment(c: FakeContainer, extra: string[] = []): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    for (const entry of [...((c.config.Env as string[] | undefined) ?? []), ...extra]) {
      const at = entry.indexOf('=');
      if (at > 0) env[entry.slice(0, at)] = this.mapText(c, entry.slice(at + 1));
    }
    return env;
  }

  private async startContainer(c: FakeContainer, res: ServerResponse): Promise<void> {
    if (c.state === 'running') {
      res.writeHead(304);
      return void res.end();
    }
    const argv = [...((c.config.Entrypoint as string[] | undefined) ?? []), ...((c.config.Cmd as string[] | undefined) ?? [])].map((a) => this.mapText(c, a));
    const [file, ...args] = argv;
    if (!file) throw new EngineError(400, 'no command specified');
    const cwd = this.mapText(c, (c.config.WorkingDir as string | undefined) || '/');
    const workDir = cwd === '/' ? c.fsDir : cwd;
    await mkdir(workDir, { recursive: true }); // the engine creates a missing WorkingDir
    const child = spawn(file, args, { cwd: workDir, env: this.environment(c), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (err) {
      throw new EngineError(400, `failed to create task for container: exec: "${file}": ${(err as Error).message}`);
    }
    c.state = 'running';
    c.pid = child.pid;
    c.startedAt = new Date();
    c.exitCode = 0;
    // the log copier gets output a moment after it was written; timers of one delay run in order
    const lag = this.options.logLagMs ?? 20;
    child.stdout?.on('data', (data: Buffer) => setTimeout(() => this.copy(c, 1, data), lag));
    child.stderr?.on('data', (data: Buffer) => setTimeout(() => this.copy(c, 2, data), lag));
    child.on('exit', (code, signal) => {
      c.exitCode = code ?? 128 + (signal ? (osSignals[signal] ?? 9) : 9);
      // the main process ended: so does everything else in the container
      signalGroup(child.pid, 'SIGKILL');
      for (const exec of c.execs) signalProcess(exec.pid, 'SIGKILL');
    });
    child.on('close', () => setTimeout(() => this.stopped(c), lag));
    res.writeHead(204);
    res.end();
  }

  /** The container's process and its output streams ended: the engine marks it stopped. */
  private stopped(c: FakeContainer): void {
    c.state = 'exited';
    c.finishedAt = new Date();
    for (const f of c.followers) f.res.end();
    c.followers.clear();
    // an unfinished last line reaches the log only now, after the followers were let go
    for (const [stream, partial] of c.partial) if (partial.length > 0) this.store(c, stream, partial);
    c.partial.clear();
    for (const waiter of c.exitWaiters) waiter();
    c.exitWaiters.clear();
  }

  /**
   * What the engine's log copier does with a container's output: it stores whole lines (a line
   * longer than 16 KiB in pieces) and holds an unfinished one back until more comes or the stream
   * ends.
   */
  private copy(c: FakeContainer, stream: number, data: Buffer): void {
    let pending = Buffer.concat([c.partial.get(stream) ?? Buffer.alloc(0), data]);
    for (;;) {
      const at = pending.indexOf(0x0a);
      if (at < 0 && pending.length <= COPY_BUFFER) break;
      const end = at < 0 ? COPY_BUFFER : Math.min(at + 1, COPY_BUFFER);
      this.store(c, stream, pending.subarray(0, end), true);
      pending = pending.subarray(end);
    }
    c.partial.set(stream, pending);
  }

  /** Stores a log message, in frames of at most `frameSize` bytes; followers get it when `live`. */
  private store(c: FakeContainer, stream: number, data: Buffer, live = false): void {
    const size = this.options.frameSize ?? data.length;
    for (let at = 0; at < data.length; at += size) {
      const frame = { stream, data: data.subarray(at, at + size) };
      c.frames.push(frame);
      if (live) for (const f of c.followers) this.send(c, f, frame);
    }
  }

  private send(c: FakeContainer, f: Follower, frame: Frame): void {
    if ((frame.stream === 1 && !f.stdout) || (frame.stream === 2 && !f.stderr)) return;
    let bytes = encodeFrame(frame.stream, frame.data);
    if (f.cutAfter !== undefined && f.written + bytes.length > f.cutAfter) {
      c.followers.delete(f);
      if (f.cutHow === 'end') {
        f.res.end();
      } else {
        bytes = bytes.subarray(0, f.cutAfter - f.written);
        if (bytes.length > 0) f.res.write(bytes);
        // let the partial bytes out, then drop the connection
        setTimeout(() => f.res.socket?.destroy(), 10);
      }
      f.cutAfter = -1;
      return;
    }
    f.written += bytes.length;
    f.res.write(bytes);
  }

  private logs(c: FakeContainer, query: Record<string, string>, res: ServerResponse): void {
    const stdout = truthy(query.stdout);
    const stderr = truthy(query.stderr);
    if (!stdout && !stderr) throw new EngineError(400, 'Bad parameters: you must choose at least one stream');
    const follow = truthy(query.follow);
    res.writeHead(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream' });
    const cut = this.logCuts.shift();
    const follower: Follower = { res, stdout, stderr, written: 0, cutAfter: cut?.afterBytes, cutHow: cut?.how };
    const live = follow && c.state === 'running';
    if (live) {
      c.followers.add(follower);
      res.on('close', () => c.followers.delete(follower));
    }
    for (const frame of c.frames) {
      this.send(c, follower, frame);
      if (follower.cutAfter === -1) return;
    }
    if (!live) res.end();
  }

  private async wait(c: FakeContainer, query: Record<string, string>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    await drain(req);
    const condition = query.condition ?? 'not-running';
    if (condition === 'not-running' && c.state !== 'running') return json(res, 200, { StatusCode: c.exitCode, Error: null });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const done = () => res.end(`${JSON.stringify({ StatusCode: c.exitCode, Error: null })}\n`);
    c.exitWaiters.add(done);
    res.on('close', () => c.exitWaiters.delete(done));
  }

  private exited(c: FakeContainer, timeoutMs: number): Promise<boolean> {
    if (c.state !== 'running') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        c.exitWaiters.delete(done);
        resolve(false);
      }, timeoutMs);
      c.exitWaiters.add(done);
    });
  }

  private async kill(c: FakeContainer, query: Record<string, string>, res: ServerResponse): Promise<void> {
    if (c.state !== 'running') throw new EngineError(409, `Cannot kill container: ${c.id}: Container ${c.id} is not running`);
    const signal = (query.signal ?? 'SIGKILL').replace(/^(SIG)?/, 'SIG') as NodeJS.Signals;
    signalGroup(c.pid, signal);
    res.writeHead(204);
    res.end();
  }

  private async stop(c: FakeContainer, query: Record<string, string>, res: ServerResponse): Promise<void> {
    if (c.state !== 'running') {
      res.writeHead(304);
      return void res.end();
    }
    const seconds = query.t !== undefined ? Number(query.t) : 10;
    signalProcess(c.pid, 'SIGTERM');
    if (!(await this.exited(c, seconds * 1000))) {
      signalGroup(c.pid, 'SIGKILL');
      if (!(await this.exited(c, 10_000))) throw new EngineError(500, 'tried to kill container, but did not receive an exit event');
    }
    res.writeHead(204);
    res.end();
  }

  private async killContainer(c: FakeContainer): Promise<void> {
    for (const exec of c.execs) signalProcess(exec.pid, 'SIGKILL');
    if (c.state !== 'running') return;
    signalGroup(c.pid, 'SIGKILL');
    await this.exited(c, 10_000);
  }

  private async remove(c: FakeContainer, query: Record<string, string>, res: ServerResponse): Promise<void> {
    if (c.state === 'running') {
      if (!truthy(query.force)) {
        throw new EngineError(409, `You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`);
      }
      await this.killContainer(c);
    }
    this.containers.delete(c.id);
    await rm(join(this.root, c.id), { recursive: true, force: true });
    res.writeHead(204);
    res.end();
  }

  // ---- archives ----

  private async getArchive(c: FakeContainer, query: Record<string, string>, method: string, res: ServerResponse): Promise<void> {
    const path = query.path ?? '';
    const host = this.fsPath(c, path);
    const st = await lstat(host).catch(() => undefined);
    if (!st) throw new EngineError(404, `Could not find the file ${path} in container ${c.name}`);
    const name = path === '/' ? '/' : posix.basename(posix.normalize(path).replace(/\/+$/, ''));
    const stat = { name, size: st.size, mode: st.mode, mtime: st.mtime.toISOString(), linkTarget: st.isSymbolicLink() ? await readlink(host) : '' };
    res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': Buffer.from(JSON.stringify(stat)).toString('base64') });
    if (method === 'HEAD') return void res.end();
    const archive = pack();
    archive.pipe(res);
    await packPath(archive, host, name === '/' ? '.' : name);
    archive.finalize();
  }

  private async putArchive(c: FakeContainer, query: Record<string, string>, req: IncomingMessage, res: ServerResponse, call: FakeCall): Promise<void> {
    const path = query.path ?? '';
    const dest = this.fsPath(c, path);
    const st = await lstat(dest).catch(() => undefined);
    if (!st) {
      await drain(req);
      throw new EngineError(404, `Could not find the file ${path} in container ${c.name}`);
    }
    if (!st.isDirectory()) {
      await drain(req);
      throw new EngineError(400, `extraction point is not a directory`);
    }
    const entries = extract();
    req.pipe(entries);
    call.entries = [];
    for await (const entry of entries) {
      const header = entry.header;
      call.entries.push({ name: header.name, type: header.type ?? 'file', mode: (header.mode ?? 0) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0 });
      const name = posix.normalize(header.name).replace(/\/+$/, '');
      if (name === '.' || name === '') {
        entry.resume();
        continue;
      }
      if (posix.isAbsolute(name) || name === '..' || name.startsWith('../')) {
        entry.resume();
        throw new EngineError(400, `${JSON.stringify(header.name)} is outside of ${JSON.stringify(path)}`);
      }
      const target = join(dest, name);
      await mkdir(dirname(target), { recursive: true });
      const mode = (header.mode ?? 0o644) & 0o7777;
      const existing = await lstat(target).catch(() => undefined);
      if (header.type === 'directory') {
        if (existing && !existing.isDirectory()) await rm(target, { recursive: true, force: true });
        await mkdir(target, { recursive: true });
        await chmod(target, mode);
        entry.resume();
      } else if (header.type === 'file' || header.type === 'contiguous-file') {
        const chunks: Buffer[] = [];
        for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
        if (existing) await rm(target, { recursive: true, force: true }); // as the engine does: delete, then write
        await writeFile(target, Buffer.concat(chunks), { mode });
        await chmod(target, mode);
      } else if (header.type === 'symlink' && header.linkname) {
        if (existing) await rm(target, { recursive: true, force: true });
        await symlink(header.linkname, target);
        entry.resume();
      } else {
        entry.resume();
      }
    }
    res.writeHead(200);
    res.end();
  }

  // ---- exec ----

  private execCreate(c: FakeContainer, body: unknown, res: ServerResponse): void {
    if (c.state !== 'running') throw new EngineError(409, `container ${c.id} is not running`);
    const options = (body ?? {}) as { Cmd?: string[]; WorkingDir?: string; Env?: string[] };
    if (!options.Cmd?.length) throw new EngineError(400, 'No exec command specified');
    const id = randomBytes(32).toString('hex');
    this.execs.set(id, { id, container: c, cmd: options.Cmd, workingDir: options.WorkingDir, env: options.Env ?? [], running: false, started: false, exitCode: null, pid: 0 });
    json(res, 201, { Id: id });
  }

  private async execStart(exec: FakeExec, body: unknown, res: ServerResponse): Promise<void> {
    const c = exec.container;
    if (c.state !== 'running') throw new EngineError(409, `container ${c.id} is not running`);
    if (exec.started) throw new EngineError(409, `exec ${exec.id} has already been started`);
    exec.started = true;
    const detach = Boolean((body as { Detach?: boolean } | undefined)?.Detach);
    const [file, ...args] = exec.cmd.map((a) => this.mapText(c, a));
    const cwdText = this.mapText(c, exec.workingDir || (c.config.WorkingDir as string | undefined) || '/');
    const child = spawn(file as string, args, { cwd: cwdText === '/' ? c.fsDir : cwdText, env: this.environment(c, exec.env), stdio: ['ignore', 'pipe', 'pipe'] });
    exec.running = true;
    const closed = new Promise<void>((resolve) => {
      child.on('error', () => {
        exec.running = false;
        exec.exitCode = 126;
        resolve();
      });
      child.on('close', (code, signal) => {
        exec.running = false;
        exec.exitCode = code ?? 128 + (signal ? (osSignals[signal] ?? 9) : 9);
        c.execs.delete(child);
        resolve();
      });
    });
    exec.pid = child.pid ?? 0;
    c.execs.add(child);
    if (detach) {
      res.writeHead(200);
      return void res.end();
    }
    res.writeHead(200, { 'Content-Type': 'application/vnd.docker.raw-stream' });
    child.stdout?.on('data', (data: Buffer) => res.write(encodeFrame(1, data)));
    child.stderr?.on('data', (data: Buffer) => res.write(encodeFrame(2, data)));
    await closed;
    res.end();
  }

  private execInspect(exec: FakeExec): Record<string, unknown> {
    return {
      ID: exec.id,
      Running: exec.running,
      ExitCode: exec.exitCode,
      ProcessConfig: { privileged: false, user: '', tty: false, entrypoint: exec.cmd[0] ?? '', arguments: exec.cmd.slice(1) },
      OpenStdin: false,
      OpenStderr: true,
      OpenStdout: true,
      CanRemove: false,
      ContainerID: exec.container.id,
      DetachKeys: '',
      Pid: exec.pid,
    };
  }
}

const osSignals: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGQUIT: 3, SIGUSR1: 10, SIGUSR2: 12, SIGPIPE: 13 };

async function packPath(archive: Pack, host: string, name: string): Promise<void> {
  const st = await lstat(host);
  const mode = st.mode & 0o7777;
  if (st.isSymbolicLink()) {
    archive.entry({ name, type: 'symlink', linkname: await readlink(host), mode, mtime: st.mtime });
  } else if (st.isDirectory()) {
    archive.entry({ name: `${name}/`, type: 'directory', mode, mtime: st.mtime });
    for (const child of (await readdir(host)).sort()) await packPath(archive, join(host, child), name === '.' ? child : `${name}/${child}`);
  } else if (st.isFile()) {
    archive.entry({ name, type: 'file', mode, mtime: st.mtime }, await readFile(host));
  }
}

function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded) return resolve();
    req.on('end', () => resolve());
    req.on('error', () => resolve());
    req.resume();
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new EngineError(400, 'invalid JSON body');
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}
