import { delay, errorMessage, type Logger } from '@agentq/shared';
import type { ModalProcess, ModalSandbox } from './modal-api.js';
import { isNotFound, modalError } from './modal-errors.js';
import { FOLLOW_WINDOW_SEC, FOLLOW_AGAIN, ABSENT, MAX_IDLE_FOLLOWS, REPLAY_LIMIT, FOLLOW, WRITE, READ, EXIT_CODE, READY, privateFileName } from './modal-layout.js';
import type { ExecResult, OutputLine, SandboxHandle, SandboxStatus } from '../sandbox-provider.js';
import { TerminateFailedError, dispatchError } from '../../dispatch-errors.js';

export function withoutCr(text: string): string {
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}

/** The promise's value, or undefined when it does not settle (or fails) within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
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
export interface HandleContext {
  root: string;
  pollMs: number;
  graceMs: number;
  logger: Logger | undefined;
}

/** Lines read by a handle, from `first` on, kept to replay once the sandbox is terminated. */
export interface Replay {
  first: number;
  lines: OutputLine[];
  size: number;
}

export class ModalSandboxHandle implements SandboxHandle {
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
    if (code !== 0) throw dispatchError('DISPATCH_SANDBOX_FAILED', `could not start the command in sandbox ${this.id} (exit code ${code})`);
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
        throw dispatchError('DISPATCH_SANDBOX_FAILED', `could not read the output of sandbox ${this.id} (the image needs bash and GNU coreutils)`);
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
          throw new TerminateFailedError(`sandbox ${this.id} still runs ${this.context.graceMs} ms after it was terminated`);
        }
        await delay(Math.min(this.context.pollMs, 500));
      }
      this.terminated = true;
      this.log?.info('sandbox terminated');
    })().catch((err: unknown) => {
      this.terminating = undefined;
      throw err instanceof TerminateFailedError ? err : new TerminateFailedError(errorMessage(err), { cause: err });
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
    if (code !== 0) throw dispatchError('DISPATCH_SANDBOX_FAILED', `could not write ${name} in sandbox ${this.id} (exit code ${code})`);
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
    if (result.code !== 0) throw dispatchError('DISPATCH_SANDBOX_FAILED', `could not read ${name} in sandbox ${this.id} (exit code ${result.code})`);
    return result.stdout;
  }

  /** A Modal sandbox keeps nothing once it has ended: releasing it terminates it. */
  async release(): Promise<void> {
    await this.terminate();
  }
}
