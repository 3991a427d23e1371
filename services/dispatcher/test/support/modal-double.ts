import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { AlreadyExistsError, ConflictError, NotFoundError, type ModalReadStream, type ModalWriteStream } from 'modal';
import type {
  ModalApi,
  ModalApp,
  ModalExecParams,
  ModalImage,
  ModalProcess,
  ModalSandbox,
  ModalSandboxCreateParams,
  ModalSecret,
} from '../../src/providers/modal/modal-api.js';

/** Calls of the double that a test can make fail (`failNext`). */
export type DoubleOperation =
  | 'apps.fromName'
  | 'images.build'
  | 'secrets.fromName'
  | 'secrets.fromObject'
  | 'sandboxes.create'
  | 'sandboxes.fromId'
  | 'sandboxes.list'
  | 'sandbox.exec'
  | 'sandbox.poll'
  | 'sandbox.terminate'
  | 'sandbox.getTags';

export interface ModalDoubleOptions {
  /** Each sandbox's own files live in `<dir>/<sandbox id>/` (`fs/` its private paths, `home/` its HOME). */
  dir: string;
  /**
   * Absolute paths private to each sandbox, as a container's own filesystem is: an argument of a
   * command, a value of its environment or a working directory that is one of them (or lies under
   * one) is moved to `<dir>/<sandbox id>/fs/<path>`. Only whole values are moved, not paths inside a
   * script's text.
   */
  privatePaths?: string[];
  /** Named Modal Secrets: name → values. */
  secrets?: Record<string, Record<string, string>>;
  /** Registry tags whose build fails, as the SDK's does for an image that cannot be pulled. */
  missingImages?: string[];
  /**
   * As `modal@0.11.1` does: `sandboxes.fromId` of an unknown id answers a handle whose first call
   * fails with gRPC NOT_FOUND. Default: `fromId` itself throws the SDK's `NotFoundError`.
   */
  lazyFromId?: boolean;
}

const GRPC_STATUS_NAMES: Record<number, string> = { 3: 'INVALID_ARGUMENT', 5: 'NOT_FOUND', 8: 'RESOURCE_EXHAUSTED', 13: 'INTERNAL', 14: 'UNAVAILABLE' };

/** An error shaped like the nice-grpc `ClientError` the SDK passes on from its transport. */
export function grpcError(code: number, details: string): Error {
  const err = new Error(`/modal.client.ModalClient/Call ${GRPC_STATUS_NAMES[code] ?? code}: ${details}`);
  err.name = 'ClientError';
  Object.assign(err, { code, details, path: '/modal.client.ModalClient/Call' });
  Object.defineProperty(err, '@@nice-grpc', { value: true });
  Object.defineProperty(err, '@@nice-grpc:ClientError', { value: true });
  return err;
}

/** One `sandboxes.create` call, as the double got it. */
export interface CreateCall {
  appId: string;
  image: string;
  params: ModalSandboxCreateParams;
  /** Set when the sandbox was made. */
  sandboxId?: string;
}

export interface ExecCall {
  sandboxId: string;
  command: string[];
  params: ModalExecParams | undefined;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

function killGroupNow(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

class DoubleApp implements ModalApp {
  constructor(
    readonly appId: string,
    readonly name: string,
  ) {}
}

class DoubleSecret implements ModalSecret {
  constructor(
    readonly values: Record<string, string>,
    readonly name?: string,
  ) {}
}

class DoubleImage implements ModalImage {
  built = false;

  constructor(
    private readonly double: ModalDouble,
    readonly tag: string,
  ) {}

  async build(_app: ModalApp): Promise<ModalImage> {
    this.double.take('images.build');
    if (this.built) return this;
    if (this.double.missingImages.has(this.tag)) {
      // what the SDK throws when Modal's build of the image failed (a plain Error)
      throw new Error(`Image build for im-${randomBytes(6).toString('hex')} failed with the exception:\nfailed to pull ${this.tag}: not found`);
    }
    this.built = true;
    return this;
  }
}

/** A UTF-8 text stream of a child's output, in the SDK's shape. */
function readStream(source: Readable | null): { stream: ModalReadStream<string>; breakIt: () => void } {
  const decoder = new StringDecoder('utf8');
  let open = true;
  let control: ReadableStreamDefaultController<string> | undefined;
  const stream = new ReadableStream<string>({
    start(controller) {
      control = controller;
      if (!source) {
        open = false;
        controller.close();
        return;
      }
      source.on('data', (chunk: Buffer) => {
        const text = decoder.write(chunk);
        if (open && text.length > 0) controller.enqueue(text);
      });
      source.on('end', () => {
        const rest = decoder.end();
        if (!open) return;
        if (rest.length > 0) controller.enqueue(rest);
        open = false;
        controller.close();
      });
      source.on('error', (err) => {
        if (!open) return;
        open = false;
        controller.error(err);
      });
    },
    cancel() {
      open = false;
      source?.destroy();
    },
  });
  const readText = async (): Promise<string> => {
    const reader = stream.getReader();
    let out = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return out;
        out += value;
      }
    } finally {
      reader.releaseLock();
    }
  };
  const readBytes = async (): Promise<Uint8Array> => new TextEncoder().encode(await readText());
  const breakIt = () => {
    if (!open) return;
    open = false;
    control?.error(new Error('stream reset by the double'));
  };
  return { stream: Object.assign(stream, { readText, readBytes }), breakIt };
}

/** A child's standard input, in the SDK's shape. */
function writeStream(sink: Writable | null): ModalWriteStream<string> {
  sink?.on('error', () => undefined); // EPIPE when the process ended first: the write fails instead
  const stream = new WritableStream<string>({
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        if (!sink) return reject(new Error('stdin is not piped'));
        sink.write(chunk, (err) => (err ? reject(err) : resolve()));
      });
    },
    close() {
      return new Promise<void>((resolve) => (sink ? sink.end(() => resolve()) : resolve()));
    },
    abort() {
      sink?.destroy();
    },
  });
  const writeText = async (text: string): Promise<void> => {
    const writer = stream.getWriter();
    try {
      await writer.write(text);
    } finally {
      writer.releaseLock();
    }
  };
  const writeBytes = (bytes: Uint8Array): Promise<void> => writeText(new TextDecoder().decode(bytes));
  return Object.assign(stream, { writeText, writeBytes });
}

function spawned(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
}

class DoubleProcess implements ModalProcess {
  readonly stdin: ModalWriteStream<string>;
  readonly stdout: ModalReadStream<string>;
  readonly stderr: ModalReadStream<string>;
  readonly breakOutput: () => void;
  private readonly exit: Promise<number>;

  constructor(readonly child: ChildProcess) {
    this.stdin = writeStream(child.stdin);
    const out = readStream(child.stdout);
    const err = readStream(child.stderr);
    this.stdout = out.stream;
    this.stderr = err.stream;
    this.breakOutput = () => {
      out.breakIt();
      err.breakIt();
    };
    this.exit = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(exitCodeOf(child.exitCode, child.signalCode));
      else child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
    });
  }

  wait(): Promise<number> {
    return this.exit;
  }
}

/** A sandbox whose entrypoint is a local process group, with its own directory standing in for its filesystem. */
class DoubleSandbox implements ModalSandbox {
  /** Null while the entrypoint runs. */
  exitCode: number | null = null;
  terminateCalls = 0;
  readonly processes = new Set<DoubleProcess>();
  private entry: ChildProcess | undefined;
  private terminated = false;

  constructor(
    private readonly double: ModalDouble,
    readonly sandboxId: string,
    readonly appId: string,
    readonly name: string | undefined,
    readonly tags: Record<string, string>,
    readonly env: Record<string, string>,
    readonly workdir: string,
  ) {}

  get dir(): string {
    return join(this.double.dir, this.sandboxId);
  }

  /** Process id (and process group) of the entrypoint, once it was started. */
  get pid(): number | undefined {
    return this.entry?.pid;
  }

  /** A path private to the sandbox, moved into its directory. */
  map(value: string): string {
    return this.double.mapPath(this.sandboxId, value);
  }

  async start(command: string[]): Promise<void> {
    await mkdir(join(this.dir, 'home'), { recursive: true });
    await mkdir(this.workdir, { recursive: true });
    const [file = 'sleep', ...args] = command.map((arg) => this.map(arg));
    const child = spawn(file, args, { cwd: this.workdir, env: this.env, detached: true, stdio: 'ignore' });
    this.entry = child;
    child.once('exit', (code, signal) => {
      this.exitCode = this.terminated ? 137 : exitCodeOf(code, signal);
      // the container is gone: everything else in it too
      killGroupNow(child.pid);
      for (const proc of this.processes) killGroupNow(proc.child.pid);
    });
    try {
      await spawned(child);
    } catch {
      this.exitCode = 127;
    }
    child.unref();
  }

  async exec(command: string[], params?: ModalExecParams): Promise<ModalProcess> {
    this.double.take('sandbox.exec');
    this.double.execs.push({ sandboxId: this.sandboxId, command: [...command], params });
    if (this.exitCode !== null) throw new ConflictError(`Sandbox ${this.sandboxId} has already finished`);
    const [file = 'true', ...args] = command.map((arg) => this.map(arg));
    const child = spawn(file, args, {
      cwd: params?.workdir ? this.map(params.workdir) : this.workdir,
      env: { ...this.env, ...params?.env },
      detached: true,
      stdio: ['pipe', params?.stdout === 'ignore' ? 'ignore' : 'pipe', params?.stderr === 'ignore' ? 'ignore' : 'pipe'],
    });
    const proc = new DoubleProcess(child);
    this.processes.add(proc);
    child.once('exit', () => this.processes.delete(proc));
    await spawned(child);
    child.unref();
    return proc;
  }

  async poll(): Promise<number | null> {
    this.double.take('sandbox.poll');
    return this.exitCode;
  }

  async terminate(): Promise<void> {
    this.double.take('sandbox.terminate');
    this.terminateCalls += 1;
    if (this.double.terminateIgnored || this.exitCode !== null) return;
    this.terminated = true;
    killGroupNow(this.entry?.pid);
    for (const proc of this.processes) killGroupNow(proc.child.pid);
  }

  async getTags(): Promise<Record<string, string>> {
    this.double.take('sandbox.getTags');
    return { ...this.tags };
  }

  /** Stops everything at once (test cleanup). */
  kill(): void {
    if (this.exitCode === null) this.terminated = true;
    killGroupNow(this.entry?.pid);
    for (const proc of this.processes) killGroupNow(proc.child.pid);
  }
}

/** What `fromId` of an unknown id answers with `lazyFromId`: every call fails as Modal's server does. */
class UnknownSandbox implements ModalSandbox {
  constructor(readonly sandboxId: string) {}

  private fail(): never {
    throw grpcError(5, `Sandbox ${this.sandboxId} not found`);
  }

  async exec(): Promise<ModalProcess> {
    this.fail();
  }

  async poll(): Promise<number | null> {
    this.fail();
  }

  async terminate(): Promise<void> {
    this.fail();
  }

  async getTags(): Promise<Record<string, string>> {
    this.fail();
  }
}

/**
 * An in-memory Modal for tests, typed against `ModalApi`: a sandbox is a local process group (its
 * entrypoint spawned detached, with the given environment and its secrets' values), `exec` runs a
 * process beside it with piped stdio, `terminate` kills the group. Names are unique among the
 * running sandboxes of an App, `list` filters by tags. Every call is recorded, and any can be made
 * to fail (`failNext`) with an error of the real SDK.
 */
export class ModalDouble implements ModalApi {
  readonly dir: string;
  readonly privatePaths: string[];
  readonly missingImages: Set<string>;
  readonly lazyFromId: boolean;
  /** When true, `terminate` is accepted but the sandbox goes on running. */
  terminateIgnored = false;
  closed = false;

  readonly appLookups: { name: string; params: { environment?: string; createIfMissing?: boolean } | undefined }[] = [];
  /** Tags given to `images.fromRegistry`. */
  readonly imageTags: string[] = [];
  readonly secretLookups: { name: string; params: { environment?: string } | undefined }[] = [];
  /** Values of the ephemeral secrets made (`secrets.fromObject`). */
  readonly ephemeralSecrets: { entries: Record<string, string>; params: { environment?: string } | undefined }[] = [];
  readonly creates: CreateCall[] = [];
  readonly execs: ExecCall[] = [];
  readonly listCalls: ({ appId?: string; tags?: Record<string, string>; environment?: string } | undefined)[] = [];
  /** Every sandbox made, by id. */
  readonly made = new Map<string, DoubleSandbox>();

  private readonly namedSecrets: Record<string, Record<string, string>>;
  private readonly appsByName = new Map<string, DoubleApp>();
  private readonly failures = new Map<DoubleOperation, unknown[]>();

  constructor(options: ModalDoubleOptions) {
    this.dir = options.dir;
    this.privatePaths = (options.privatePaths ?? []).map((p) => p.replace(/\/+$/, ''));
    this.missingImages = new Set(options.missingImages ?? []);
    this.lazyFromId = options.lazyFromId ?? false;
    this.namedSecrets = options.secrets ?? {};
  }

  /** The next `times` calls of `operation` throw `error`. */
  failNext(operation: DoubleOperation, error: unknown, times = 1): void {
    const queue = this.failures.get(operation) ?? [];
    for (let i = 0; i < times; i++) queue.push(error);
    this.failures.set(operation, queue);
  }

  /** Throws the next failure queued for `operation`, if any. */
  take(operation: DoubleOperation): void {
    const queue = this.failures.get(operation);
    if (queue && queue.length > 0) throw queue.shift();
  }

  /** A path private to a sandbox (see `privatePaths`), moved into the sandbox's directory. */
  mapPath(sandboxId: string, value: string): string {
    for (const path of this.privatePaths) {
      if (value === path || value.startsWith(`${path}/`)) return join(this.dir, sandboxId, 'fs', value);
    }
    return value;
  }

  /** Breaks the output streams of every running exec (the processes go on), as a lost connection does. */
  breakOutputStreams(): void {
    for (const sandbox of this.made.values()) {
      for (const proc of sandbox.processes) proc.breakOutput();
    }
  }

  /** Sandboxes that still run. */
  running(): DoubleSandbox[] {
    return [...this.made.values()].filter((s) => s.exitCode === null);
  }

  readonly apps = {
    fromName: async (name: string, params?: { environment?: string; createIfMissing?: boolean }): Promise<ModalApp> => {
      this.appLookups.push({ name, params });
      this.take('apps.fromName');
      let app = this.appsByName.get(name);
      if (!app) {
        if (!params?.createIfMissing) throw new NotFoundError(`App '${name}' not found`);
        app = new DoubleApp(`ap-${randomBytes(6).toString('hex')}`, name);
        this.appsByName.set(name, app);
      }
      return app;
    },
  };

  readonly images = {
    fromRegistry: (tag: string): ModalImage => {
      this.imageTags.push(tag);
      return new DoubleImage(this, tag);
    },
  };

  readonly secrets = {
    fromName: async (name: string, params?: { environment?: string }): Promise<ModalSecret> => {
      this.secretLookups.push({ name, params });
      this.take('secrets.fromName');
      const values = this.namedSecrets[name];
      if (!values) throw new NotFoundError(`Secret '${name}' not found`);
      return new DoubleSecret(values, name);
    },
    fromObject: async (entries: Record<string, string>, params?: { environment?: string }): Promise<ModalSecret> => {
      this.ephemeralSecrets.push({ entries: { ...entries }, params });
      this.take('secrets.fromObject');
      return new DoubleSecret({ ...entries });
    },
  };

  readonly sandboxes = {
    create: async (app: ModalApp, image: ModalImage, params: ModalSandboxCreateParams = {}): Promise<ModalSandbox> => {
      if (!(image instanceof DoubleImage)) throw new Error('the image was not made by this double');
      const call: CreateCall = { appId: app.appId, image: image.tag, params };
      this.creates.push(call);
      this.take('sandboxes.create');
      await image.build(app);
      if (params.name !== undefined && this.running().some((s) => s.appId === app.appId && s.name === params.name)) {
        throw new AlreadyExistsError(`Sandbox with name '${params.name}' already exists`);
      }
      const secretValues: Record<string, string> = {};
      for (const secret of params.secrets ?? []) {
        if (!(secret instanceof DoubleSecret)) throw new Error('the secret was not made by this double');
        Object.assign(secretValues, secret.values);
      }
      const id = `sb-${randomBytes(8).toString('hex')}`;
      const mapEnv = (env: Record<string, string>) => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, this.mapPath(id, v)]));
      // a container's environment: the image's (here PATH, LANG and a HOME of its own), the sandbox's and its secrets'
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
        LANG: 'C.UTF-8',
        HOME: join(this.dir, id, 'home'),
        ...mapEnv(params.env ?? {}),
        ...mapEnv(secretValues),
      };
      const workdir = params.workdir ? this.mapPath(id, params.workdir) : join(this.dir, id, 'fs');
      const sandbox = new DoubleSandbox(this, id, app.appId, params.name, { ...params.tags }, env, workdir);
      this.made.set(id, sandbox);
      call.sandboxId = id;
      await sandbox.start(params.command ?? ['sleep', 'infinity']);
      return sandbox;
    },
    fromId: async (sandboxId: string): Promise<ModalSandbox> => {
      this.take('sandboxes.fromId');
      const sandbox = this.made.get(sandboxId);
      if (sandbox) return sandbox;
      if (this.lazyFromId) return new UnknownSandbox(sandboxId);
      throw new NotFoundError(`Sandbox ${sandboxId} not found`);
    },
    list: (params?: { appId?: string; tags?: Record<string, string>; environment?: string }): AsyncIterable<ModalSandbox> => {
      this.listCalls.push(params);
      return this.listing(params);
    },
  };

  private async *listing(params: { appId?: string; tags?: Record<string, string> } | undefined): AsyncGenerator<ModalSandbox> {
    this.take('sandboxes.list');
    for (const sandbox of this.running()) {
      if (params?.appId !== undefined && sandbox.appId !== params.appId) continue;
      if (!Object.entries(params?.tags ?? {}).every(([k, v]) => sandbox.tags[k] === v)) continue;
      yield sandbox;
    }
  }

  close(): void {
    this.closed = true;
  }

  /** Kills every sandbox's processes (test cleanup). */
  async shutdown(): Promise<void> {
    for (const sandbox of this.made.values()) sandbox.kill();
    const deadline = Date.now() + 5000;
    while (this.running().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
