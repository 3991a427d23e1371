import { AgentqError, DOMAIN_PATTERN, errorMessage, type Config, type Logger } from '@agentq/shared';
import {
  AlreadyExistsError,
  InternalFailure,
  ModalClient,
  NotFoundError,
  ResourceExhaustedError,
  SandboxTimeoutError,
  TimeoutError,
  type Logger as ModalLogger,
} from 'modal';
import type { ModalApi, ModalApp, ModalProcess, ModalSandbox, ModalSandboxCreateParams, ModalSecret } from './modal-api.js';
import type {
  ExecResult,
  OutputLine,
  SandboxHandle,
  SandboxInfo,
  SandboxProvider,
  SandboxSpec,
  SandboxStatus,
} from './sandbox-provider.js';
import { delay } from './abortable-delay.js';

export interface ModalProviderOptions {
  client: ModalApi;
  /** The Modal App the sandboxes run in (created when missing). */
  app: string;
  /** Modal environment; the client's when absent. */
  environment?: string;
  /** Default registry image of a sandbox (`SandboxSpec.image` overrides it). */
  image: string;
  cpu: number;
  memoryMiB: number;
  /** Names of Modal Secrets attached to every sandbox. */
  secretNames: string[];
  /** Domains every sandbox may reach; undefined: no outbound limit. */
  allowedDomains: string[] | undefined;
  /** Modal ends a sandbox idle this long. */
  idleTimeoutMs?: number;
  /** Directory in the sandbox that holds the run (`work/`, `output.log`, `exit-code`). */
  root?: string;
  /** How often the state of a sandbox is polled. */
  pollMs?: number;
  /** How long `terminate` waits for Modal to report the sandbox ended. */
  graceMs?: number;
  logger?: Logger;
}

/** What a provider was configured with (no client, no secret values). */
export interface ModalProviderSettings {
  app: string;
  environment: string | undefined;
  image: string;
  cpu: number;
  memoryMiB: number;
  secretNames: string[];
  allowedDomains: string[] | undefined;
  idleTimeoutMs: number | undefined;
  root: string;
  pollMs: number;
  graceMs: number;
}

/** Lifetime of a sandbox whose spec names none (Modal's own default is 5 minutes; 24 hours is its maximum). */
const DEFAULT_TIMEOUT_MS = 24 * 3600 * 1000;
/** How long one output follower runs before the next one takes over (bounds a follower left behind). */
const FOLLOW_WINDOW_SEC = 240;
/** Exit code of a follower that ended before the command did: follow on. */
const FOLLOW_AGAIN = 75;
/** Exit code of the scripts below when the file asked for is not there. */
const ABSENT = 44;
/** Followers in a row that made no progress before `output` gives up. */
const MAX_IDLE_FOLLOWS = 5;
/** At most this much output (UTF-16 code units) is kept by a handle to replay once its sandbox is terminated. */
const REPLAY_LIMIT = 4 * 1024 * 1024;

/**
 * The sandbox's entrypoint: waits (bounded) until `<root>/ready` exists, runs the command in
 * `<root>/work` with its output appended to `<root>/output.log` and its pid in `<root>/pid`, records
 * the exit code in `<root>/exit-code`, then sleeps so the files stay readable until the sandbox is
 * terminated. `$1` is the root, the rest the command.
 */
const WRAPPER = [
  'root=$1; shift',
  'mkdir -p -- "$root/work"',
  'n=0',
  'until [ -e "$root/ready" ]; do',
  '  n=$((n + 1))',
  `  if [ "$n" -gt 1200 ]; then echo 'agentq: the sandbox was not made ready in time' >&2; exit 70; fi`,
  '  sleep 0.1',
  'done',
  'cd -- "$root/work" || exit 71',
  '"$@" >> "$root/output.log" 2>&1 < /dev/null &',
  'pid=$!',
  `printf '%s\\n' "$pid" > "$root/pid.tmp" && mv -f -- "$root/pid.tmp" "$root/pid"`,
  'wait "$pid"',
  'code=$?',
  `printf '%s\\n' "$code" > "$root/exit-code.tmp" && mv -f -- "$root/exit-code.tmp" "$root/exit-code"`,
  'exec sleep infinity',
].join('\n');

/**
 * Prints `<root>/output.log` from line `$2` on, following it until the command has ended and all of
 * it is printed (exit 0), or for at most `$3` seconds (exit FOLLOW_AGAIN). While the file grows, the
 * lines before are skipped by sed (`tail -n +K -F` skips only lines that are there when it starts).
 */
const FOLLOW = [
  'set -o pipefail',
  'root=$1; from=$2; window=$3',
  'log=$root/output.log',
  'end=$((SECONDS + window))',
  'until [ -e "$root/pid" ] || [ -e "$root/exit-code" ]; do',
  `  [ "$SECONDS" -lt "$end" ] || exit ${FOLLOW_AGAIN}`,
  '  sleep 0.1',
  'done',
  'if [ -e "$root/exit-code" ]; then',
  '  [ -e "$log" ] || exit 0',
  '  exec tail -n "+$from" -- "$log"',
  'fi',
  `pid=$(cat -- "$root/pid") || exit ${FOLLOW_AGAIN}`,
  'skip() { if [ "$from" -gt 1 ]; then sed -u "1,$((from - 1))d"; else cat; fi; }',
  'timeout "$((end - SECONDS + 1))" tail -n +1 -s 0.2 -F --pid="$pid" -- "$log" 2>/dev/null | skip',
  'code=$?',
  `[ "$code" -eq 124 ] && exit ${FOLLOW_AGAIN}`,
  'exit "$code"',
].join('\n');

/** Replaces the file `$1` atomically with standard input, readable by its owner only. */
const WRITE = 'f=$1; mkdir -p -- "${f%/*}" && umask 077 && cat > "$f.tmp" && chmod 600 -- "$f.tmp" && mv -f -- "$f.tmp" "$f"';
const READ = `[ -f "$1" ] || exit ${ABSENT}; exec cat -- "$1"`;
const EXIT_CODE = `[ -f "$1/exit-code" ] || exit ${ABSENT}; exec cat -- "$1/exit-code"`;
const READY = 'mkdir -p -- "$1/work" && : > "$1/ready"';

/** Task ids usable in a sandbox name (`agentq-<id>`, at most 63 characters). */
const TASK_ID = /^[A-Za-z0-9_-]{1,56}$/;
const SANDBOX_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** Names of the private files of `SandboxSpec.files`. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function privateFileName(name: string): string {
  if (!FILE_NAME.test(name) || name.endsWith('.tmp')) {
    throw new AgentqError('DISPATCH_BAD_SANDBOX_SPEC', `${JSON.stringify(name)} is not a usable sandbox file name`);
  }
  return name;
}

// gRPC status codes (the SDK passes some server errors on as nice-grpc `ClientError`s)
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;
/** Cancelled, unknown, deadline exceeded, resource exhausted (rate limits), aborted, internal, unavailable. */
const GRPC_TEMPORARY = new Set([1, 2, 4, 8, 10, 13, 14]);
/** Errors of a connection that could not be made or broke. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** The gRPC status code of an error the SDK passed on from its transport, if it is one. */
function grpcCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { name?: unknown; code?: unknown; '@@nice-grpc:ClientError'?: unknown };
  const isClientError = e['@@nice-grpc:ClientError'] === true || e.name === 'ClientError';
  return isClientError && typeof e.code === 'number' ? e.code : undefined;
}

function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  }
  return false;
}

/** The sandbox (or the id) is not known to Modal. */
function isNotFound(err: unknown): boolean {
  const code = grpcCode(err);
  return err instanceof NotFoundError || code === GRPC_NOT_FOUND || code === GRPC_INVALID_ARGUMENT;
}

/**
 * Turns an error of the Modal SDK into an `AgentqError`: a name taken (a sandbox for the task
 * exists) → `DISPATCH_SANDBOX_EXISTS`; Modal unreachable, rate limiting, out of capacity or failing
 * on its side → `DISPATCH_PROVIDER_UNAVAILABLE`; a failure while building the image (`stage: 'image'`)
 * → `DISPATCH_IMAGE_NOT_FOUND`; anything else → `DISPATCH_SANDBOX_FAILED`. The given secret values are
 * cut out of the message.
 */
export function modalError(err: unknown, what: string, options: { stage?: 'image'; secrets?: readonly string[] } = {}): AgentqError {
  if (err instanceof AgentqError) return err;
  const grpc = grpcCode(err);
  let code: string;
  if (err instanceof AlreadyExistsError || grpc === GRPC_ALREADY_EXISTS) code = 'DISPATCH_SANDBOX_EXISTS';
  else if (
    err instanceof ResourceExhaustedError ||
    err instanceof InternalFailure ||
    err instanceof TimeoutError ||
    err instanceof SandboxTimeoutError ||
    (grpc !== undefined && GRPC_TEMPORARY.has(grpc)) ||
    isNetworkError(err)
  ) {
    code = 'DISPATCH_PROVIDER_UNAVAILABLE';
  } else if (options.stage === 'image') code = 'DISPATCH_IMAGE_NOT_FOUND';
  else code = 'DISPATCH_SANDBOX_FAILED';
  let message = `${what}: ${errorMessage(err)}`;
  for (const secret of options.secrets ?? []) {
    if (secret.length >= 4) message = message.split(secret).join('[REDACTED]');
  }
  return new AgentqError(code, message, { cause: err });
}

function withoutCr(text: string): string {
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}

/** The promise's value, or undefined when it does not settle (or fails) within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}


/** What the handles of one provider share. */
interface HandleContext {
  root: string;
  pollMs: number;
  graceMs: number;
  logger: Logger | undefined;
}

/**
 * The `modal` sandbox provider: one Modal Sandbox per task, named `agentq-<task id>` in the App
 * `app`. The sandbox's entrypoint (see WRAPPER) keeps the command's output in a file inside the
 * sandbox, so a dispatcher that restarts re-attaches by id and reads it again from any line; the
 * sandbox lives on after the command ended until it is released (its `timeoutMs` bounds a forgotten
 * one). Everything else goes through `exec`. Images need bash and GNU coreutils.
 */
export class ModalSandboxProvider implements SandboxProvider {
  readonly name = 'modal';
  readonly settings: ModalProviderSettings;
  private readonly client: ModalApi;
  private readonly logger: Logger | undefined;
  private readonly context: HandleContext;
  private appLookup: Promise<ModalApp> | undefined;

  constructor(options: ModalProviderOptions) {
    this.client = options.client;
    this.logger = options.logger;
    this.settings = {
      app: options.app,
      environment: options.environment,
      image: options.image,
      cpu: options.cpu,
      memoryMiB: options.memoryMiB,
      secretNames: [...options.secretNames],
      allowedDomains: options.allowedDomains ? [...options.allowedDomains] : undefined,
      idleTimeoutMs: options.idleTimeoutMs,
      root: (options.root ?? '/agentq').replace(/\/+$/, '') || '/',
      pollMs: options.pollMs ?? 1000,
      graceMs: options.graceMs ?? 30_000,
    };
    this.context = { root: this.settings.root, pollMs: this.settings.pollMs, graceMs: this.settings.graceMs, logger: this.logger };
  }

  /** The App, looked up (and created when missing) once. */
  private app(): Promise<ModalApp> {
    this.appLookup ??= this.client.apps.fromName(this.settings.app, { createIfMissing: true, environment: this.settings.environment }).catch((err: unknown) => {
      this.appLookup = undefined;
      throw modalError(err, `could not look up the Modal App ${this.settings.app}`);
    });
    return this.appLookup;
  }

  private validate(spec: SandboxSpec): void {
    if (!TASK_ID.test(spec.taskId)) throw new AgentqError('DISPATCH_BAD_SANDBOX_ID', `invalid sandbox id ${JSON.stringify(spec.taskId)}`);
    if (spec.command.length === 0) throw new AgentqError('DISPATCH_BAD_SANDBOX_SPEC', 'the sandbox has no command');
    for (const name of Object.keys(spec.files ?? {})) privateFileName(name);
    for (const domain of spec.allowedDomains ?? []) {
      if (!DOMAIN_PATTERN.test(domain)) throw new AgentqError('DISPATCH_BAD_SANDBOX_SPEC', `${JSON.stringify(domain)} is not a domain name`);
    }
    if (spec.inherit) {
      throw new AgentqError('DISPATCH_INHERIT_UNAVAILABLE', `sandbox ${spec.inherit.sandboxId} kept nothing: a Modal sandbox keeps no files once it has ended`);
    }
  }

  /** The configured domains and the spec's; undefined (no limit) when none are configured. */
  private allowlist(spec: SandboxSpec): string[] | undefined {
    const configured = this.settings.allowedDomains;
    if (configured === undefined) return undefined;
    return [...new Set([...configured, ...(spec.allowedDomains ?? [])])];
  }

  async create(spec: SandboxSpec): Promise<SandboxHandle> {
    this.validate(spec);
    const secretValues = Object.values(spec.secrets);
    const fail = (err: unknown, what: string, stage?: 'image') => modalError(err, what, { stage, secrets: secretValues });
    const app = await this.app();
    const tag = spec.image ?? this.settings.image;
    const image = this.client.images.fromRegistry(tag);
    try {
      await image.build(app);
    } catch (err) {
      throw fail(err, `could not get the image ${tag}`, 'image');
    }
    const environment = this.settings.environment;
    const secrets: ModalSecret[] = [];
    try {
      if (secretValues.length > 0) secrets.push(await this.client.secrets.fromObject(spec.secrets, { environment }));
      for (const name of this.settings.secretNames) secrets.push(await this.client.secrets.fromName(name, { environment }));
    } catch (err) {
      throw fail(err, 'could not get the Modal Secrets of the sandbox');
    }
    const params: ModalSandboxCreateParams = {
      name: `agentq-${spec.taskId}`,
      command: ['bash', '-c', WRAPPER, 'agentq-sandbox', this.settings.root, ...spec.command],
      workdir: `${this.settings.root}/work`,
      env: spec.env,
      secrets,
      tags: spec.tags,
      cpu: this.settings.cpu,
      memoryMiB: this.settings.memoryMiB,
      timeoutMs: spec.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
    if (this.settings.idleTimeoutMs !== undefined) params.idleTimeoutMs = this.settings.idleTimeoutMs;
    const allowlist = this.allowlist(spec);
    if (allowlist !== undefined) params.outboundDomainAllowlist = allowlist;

    let sandbox: ModalSandbox;
    try {
      sandbox = await this.client.sandboxes.create(app, image, params);
    } catch (err) {
      const mapped = fail(err, 'could not create the sandbox');
      if (mapped.code === 'DISPATCH_SANDBOX_EXISTS') {
        throw new AgentqError('DISPATCH_SANDBOX_EXISTS', `a sandbox for ${spec.taskId} exists already`, { cause: err });
      }
      throw mapped;
    }
    const handle = new ModalSandboxHandle(sandbox, this.context);
    try {
      for (const [name, content] of Object.entries(spec.files ?? {})) await handle.writeFile(name, content);
      await handle.markReady();
    } catch (err) {
      const mapped = fail(err, 'could not prepare the sandbox (its image needs bash and GNU coreutils)');
      this.logger?.warn({ sandboxId: sandbox.sandboxId, taskId: spec.taskId, code: mapped.code, err: mapped.message }, 'sandbox preparation failed, terminating it');
      await sandbox.terminate().catch(() => undefined);
      throw mapped;
    }
    this.logger?.info({ sandboxId: sandbox.sandboxId, taskId: spec.taskId, image: tag }, 'sandbox created');
    return handle;
  }

  async attach(sandboxId: string): Promise<SandboxHandle | undefined> {
    if (!SANDBOX_ID.test(sandboxId)) throw new AgentqError('DISPATCH_BAD_SANDBOX_ID', `invalid sandbox id ${JSON.stringify(sandboxId)}`);
    let sandbox: ModalSandbox;
    try {
      sandbox = await this.client.sandboxes.fromId(sandboxId);
      // the SDK looks the id up lazily: ask once, so an unknown id is told apart here
      await sandbox.poll();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw modalError(err, `could not look up sandbox ${sandboxId}`);
    }
    return new ModalSandboxHandle(sandbox, this.context);
  }

  async list(tags: Record<string, string>): Promise<SandboxInfo[]> {
    const app = await this.app();
    const out: SandboxInfo[] = [];
    try {
      for await (const sandbox of this.client.sandboxes.list({ appId: app.appId, tags, environment: this.settings.environment })) {
        const handle = new ModalSandboxHandle(sandbox, this.context);
        let info: SandboxInfo;
        try {
          const [sandboxTags, status] = await Promise.all([sandbox.getTags(), handle.status()]);
          info = { id: sandbox.sandboxId, tags: sandboxTags, status };
        } catch (err) {
          if (await handle.gone()) continue; // ended while it was being looked at
          throw err;
        }
        if (Object.entries(tags).every(([k, v]) => info.tags[k] === v)) out.push(info);
      }
    } catch (err) {
      throw modalError(err, 'could not list the sandboxes');
    }
    return out;
  }

  async remove(sandboxId: string): Promise<void> {
    const handle = await this.attach(sandboxId);
    await handle?.terminate();
  }

  /** Closes the Modal client's connections; the sandboxes keep running. */
  async close(): Promise<void> {
    this.client.close();
  }
}

/** Lines read by a handle, from `first` on, kept to replay once the sandbox is terminated. */
interface Replay {
  first: number;
  lines: OutputLine[];
  size: number;
}

class ModalSandboxHandle implements SandboxHandle {
  readonly provider = 'modal';
  readonly id: string;
  private readonly log: Logger | undefined;
  private exitCode: number | undefined;
  private terminating: Promise<void> | undefined;
  /** Set once this handle terminated the sandbox. */
  private terminated = false;
  private readonly replay: Replay = { first: 0, lines: [], size: 0 };

  constructor(
    private readonly sandbox: ModalSandbox,
    private readonly context: HandleContext,
  ) {
    this.id = sandbox.sandboxId;
    this.log = context.logger?.child({ sandboxId: this.id });
  }

  private get root(): string {
    return this.context.root;
  }

  private workPath(name: string): string {
    return `${this.root}/work/${privateFileName(name)}`;
  }

  /** Runs a bash script (arguments as `$1`...) with stdout piped; `input` goes to its standard input. */
  private async script(script: string, args: string[], input?: string): Promise<{ code: number; stdout: string }> {
    const proc = await this.sandbox.exec(['bash', '-c', script, 'agentq', ...args], { stdout: 'pipe', stderr: 'ignore' });
    if (input !== undefined) {
      await proc.stdin.writeText(input);
      await proc.stdin.close();
    }
    const [stdout, code] = await Promise.all([proc.stdout.readText(), proc.wait()]);
    return { code, stdout };
  }

  /** Lets the entrypoint start the command. */
  async markReady(): Promise<void> {
    const { code } = await this.script(READY, [this.root]);
    if (code !== 0) throw new AgentqError('DISPATCH_SANDBOX_FAILED', `could not start the command in sandbox ${this.id} (exit code ${code})`);
  }

  /** True when the sandbox no longer runs (or Modal does not know it). */
  async gone(): Promise<boolean> {
    try {
      return (await this.sandbox.poll()) !== null;
    } catch (err) {
      if (isNotFound(err)) return true;
      throw err;
    }
  }

  private remember(lines: OutputLine[]): void {
    const r = this.replay;
    for (const line of lines) {
      if (r.size >= REPLAY_LIMIT) return;
      if (r.lines.length === 0) r.first = line.line;
      else if (line.line !== r.first + r.lines.length) continue; // read before, or not contiguous
      r.lines.push(line);
      r.size += line.text.length + 1;
    }
  }

  /** What this handle read after `afterLine`, when it holds all of it from there on. */
  private replayed(afterLine: number): OutputLine[] {
    const r = this.replay;
    if (r.lines.length === 0 || r.first > afterLine + 1) return [];
    return r.lines.slice(afterLine + 1 - r.first);
  }

  output(afterLine: number, signal?: AbortSignal): AsyncIterable<OutputLine[]> {
    return this.follow(afterLine, signal);
  }

  /** True once the sandbox was terminated through this handle, or has ended otherwise. */
  private async ended(): Promise<boolean> {
    return this.terminated || (await this.gone().catch(() => false));
  }

  private async *follow(afterLine: number, signal?: AbortSignal): AsyncGenerator<OutputLine[]> {
    let last = afterLine;
    let idle = 0;
    for (;;) {
      if (signal?.aborted) return;
      if (this.terminated) break;
      let proc: ModalProcess;
      try {
        proc = await this.sandbox.exec(['bash', '-c', FOLLOW, 'agentq-follow', this.root, String(last + 1), String(FOLLOW_WINDOW_SEC)], {
          stdout: 'pipe',
          stderr: 'ignore',
        });
      } catch (err) {
        if (await this.ended()) break;
        if (++idle >= MAX_IDLE_FOLLOWS) throw modalError(err, `could not read the output of sandbox ${this.id}`);
        await delay(this.context.pollMs, signal);
        continue;
      }
      const reader = proc.stdout.getReader();
      const onAbort = () => void reader.cancel().catch(() => undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      let pending = '';
      let finished = false;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            finished = true;
            break;
          }
          const parts = (pending + value).split('\n');
          pending = parts.pop() ?? '';
          if (parts.length === 0) continue;
          const out = parts.map((text) => ({ line: ++last, text: withoutCr(text) }));
          idle = 0;
          this.remember(out);
          yield out;
        }
      } catch {
        // the stream broke: a new follower goes on from the last complete line
      } finally {
        signal?.removeEventListener('abort', onAbort);
        if (!finished) await reader.cancel().catch(() => undefined);
        try {
          reader.releaseLock();
        } catch {
          // a read is still pending on a broken stream; the reader is dropped anyway
        }
      }
      if (signal?.aborted) return;
      const code = finished ? await within(proc.wait(), this.context.graceMs) : undefined;
      if (code === 0) {
        // the command has ended and everything was printed
        if (pending.length > 0) {
          const out = [{ line: ++last, text: withoutCr(pending) }];
          this.remember(out);
          yield out;
        }
        return;
      }
      // a partial line is read again by the next follower, from its start
      if (code === FOLLOW_AGAIN) continue;
      if (await this.ended()) break;
      this.log?.debug({ exitCode: code, afterLine: last }, 'output follower ended early, following on');
      if (++idle >= MAX_IDLE_FOLLOWS) {
        throw new AgentqError('DISPATCH_SANDBOX_FAILED', `could not read the output of sandbox ${this.id} (the image needs bash and GNU coreutils)`);
      }
      await delay(this.context.pollMs, signal);
    }
    // the sandbox is gone, and its files with it: what this handle read is all there is
    const rest = this.replayed(last);
    if (rest.length > 0) yield rest;
  }

  async status(): Promise<SandboxStatus> {
    if (this.exitCode !== undefined) return { state: 'exited', exitCode: this.exitCode };
    try {
      if (await this.gone()) return { state: 'lost' };
      const { code, stdout } = await this.script(EXIT_CODE, [this.root]);
      const text = stdout.trim();
      if (code === 0 && /^\d+$/.test(text)) {
        this.exitCode = Number(text);
        return { state: 'exited', exitCode: this.exitCode };
      }
      return { state: 'running' };
    } catch (err) {
      // the sandbox may have ended between the two calls
      if (await this.gone().catch(() => false)) return { state: 'lost' };
      throw modalError(err, `could not read the state of sandbox ${this.id}`);
    }
  }

  async wait(signal?: AbortSignal): Promise<SandboxStatus> {
    for (;;) {
      const status = await this.status();
      if (status.state !== 'running' || signal?.aborted) return status;
      await delay(this.context.pollMs, signal);
    }
  }

  terminate(): Promise<void> {
    this.terminating ??= (async () => {
      try {
        await this.sandbox.terminate();
      } catch (err) {
        if (!isNotFound(err)) throw modalError(err, `could not terminate sandbox ${this.id}`);
      }
      const deadline = Date.now() + this.context.graceMs;
      for (;;) {
        if (await this.gone().catch(() => false)) break;
        if (Date.now() >= deadline) {
          throw new AgentqError('DISPATCH_TERMINATE_FAILED', `sandbox ${this.id} still runs ${this.context.graceMs} ms after it was terminated`);
        }
        await delay(Math.min(this.context.pollMs, 500));
      }
      this.terminated = true;
      this.log?.info('sandbox terminated');
    })().catch((err: unknown) => {
      this.terminating = undefined;
      throw err instanceof AgentqError && err.code === 'DISPATCH_TERMINATE_FAILED'
        ? err
        : new AgentqError('DISPATCH_TERMINATE_FAILED', errorMessage(err), { cause: err });
    });
    return this.terminating;
  }

  async exec(command: string[]): Promise<ExecResult> {
    try {
      const proc = await this.sandbox.exec(command, { stdout: 'pipe', stderr: 'pipe', workdir: `${this.root}/work` });
      const [stdout, stderr, exitCode] = await Promise.all([proc.stdout.readText(), proc.stderr.readText(), proc.wait()]);
      return { exitCode, stdout, stderr };
    } catch (err) {
      throw modalError(err, `could not run a command in sandbox ${this.id}`);
    }
  }

  async writeFile(name: string, content: string): Promise<void> {
    const path = this.workPath(name);
    let code: number;
    try {
      ({ code } = await this.script(WRITE, [path], content));
    } catch (err) {
      throw modalError(err, `could not write ${name} in sandbox ${this.id}`);
    }
    if (code !== 0) throw new AgentqError('DISPATCH_SANDBOX_FAILED', `could not write ${name} in sandbox ${this.id} (exit code ${code})`);
  }

  async readFile(name: string): Promise<string | undefined> {
    const path = this.workPath(name);
    let result: { code: number; stdout: string };
    try {
      result = await this.script(READ, [path]);
    } catch (err) {
      throw modalError(err, `could not read ${name} in sandbox ${this.id}`);
    }
    if (result.code === ABSENT) return undefined;
    if (result.code !== 0) throw new AgentqError('DISPATCH_SANDBOX_FAILED', `could not read ${name} in sandbox ${this.id} (exit code ${result.code})`);
    return result.stdout;
  }

  /** A Modal sandbox keeps nothing once it has ended: releasing it terminates it. */
  async release(): Promise<void> {
    await this.terminate();
  }
}

/** Passes the SDK's own log lines to the service's logger. */
function sdkLogger(logger: Logger): ModalLogger {
  const log = logger.child({ component: 'modal-sdk' });
  return {
    debug: (message, ...args) => log.debug({ args }, message),
    info: (message, ...args) => log.info({ args }, message),
    warn: (message, ...args) => log.warn({ args }, message),
    error: (message, ...args) => log.error({ args }, message),
  };
}

/** The `modal` provider of a configuration, with a real Modal client (`MODAL_TOKEN_ID` / `MODAL_TOKEN_SECRET`, else the Modal profile). */
export function createModalProvider(config: Config, logger: Logger): ModalSandboxProvider {
  const client: ModalApi = new ModalClient({
    tokenId: config.modal.tokenId,
    tokenSecret: config.modal.tokenSecret,
    environment: config.modal.environment,
    logger: sdkLogger(logger),
  });
  return new ModalSandboxProvider({
    client,
    app: config.modal.app,
    environment: config.modal.environment,
    image: config.sandbox.image,
    cpu: config.sandbox.cpu,
    memoryMiB: config.sandbox.memoryMb,
    secretNames: config.modal.secretNames,
    allowedDomains: config.sandbox.allowedDomains,
    idleTimeoutMs: config.modal.idleTimeoutSec === undefined ? undefined : config.modal.idleTimeoutSec * 1000,
    logger: logger.child({ provider: 'modal' }),
  });
}
