import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AgentqError, delay, type Logger } from '@agentq/shared';
import type Dockerode from 'dockerode';
import { packArchive, readArchiveFile, type ArchiveEntry } from './docker-archive.js';
import { dockerError, engineStatus } from './docker-errors.js';
import { EXIT_CODE_PATH, TMP_DIR, WORK_DIR, privateFileName } from './docker-layout.js';
import { FrameDecoder, LineSplitter, STDERR, STDOUT, SYSTEMERR } from './docker-logs.js';
import { containerOwner, type Owner } from './docker-owner.js';
import type { ExecResult, OutputLine, SandboxHandle, SandboxStatus } from '../sandbox-provider.js';
import { ProviderUnavailableError, TerminateFailedError, dispatchError } from '../../dispatch-errors.js';

export interface DockerHandleOptions {
  /** Time between SIGTERM and SIGKILL on terminate (the engine counts whole seconds). */
  graceMs: number;
  /** Pause before reopening a broken log stream or retrying a failed call. */
  pollMs: number;
  /** The container's user (`Config.User`): files put into it are given to that user. */
  user: string | undefined;
  /** That user's uid and gid, when known already (else read from the image's files on first use). */
  owner?: Owner;
  logger?: Logger;
}

/** Consecutive failures (without any progress) before `output()` gives up. */
const MAX_STREAM_FAILURES = 5;
/** A log stream that lasted this long before it ended is no failure. */
const LONG_LIVED_MS = 10_000;


/** Running for agentq's purposes: it still holds its processes (paused and restarting count). */
export function isRunningState(state: { Running?: boolean; Paused?: boolean; Restarting?: boolean } | undefined): boolean {
  return Boolean(state?.Running || state?.Paused || state?.Restarting);
}

/** The exit code the wrapper recorded, or undefined when there is none (yet). */
export async function recordedExitCode(container: Dockerode.Container): Promise<number | undefined> {
  let text: string | undefined;
  try {
    text = (await readArchiveFile(await container.getArchive({ path: EXIT_CODE_PATH })))?.toString('utf8').trim();
  } catch (err) {
    if (engineStatus(err) === 404) return undefined;
    throw dockerError(err, 'other', 'could not read the exit code of the sandbox');
  }
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/** A container of the `docker` provider. `id` is the container's id. */
export class DockerSandboxHandle implements SandboxHandle {
  readonly provider = 'docker';
  private readonly container: Dockerode.Container;
  private terminating: Promise<void> | undefined;
  private owner: Promise<Owner> | undefined;

  constructor(
    docker: Dockerode,
    readonly id: string,
    private readonly options: DockerHandleOptions,
  ) {
    this.container = docker.getContainer(id);
    if (options.owner) this.owner = Promise.resolve(options.owner);
  }

  private get short(): string {
    return this.id.slice(0, 12);
  }

  /** True while the container runs; false once it stopped or is gone. */
  async isRunning(): Promise<boolean> {
    try {
      return isRunningState((await this.container.inspect()).State);
    } catch (err) {
      if (engineStatus(err) === 404) return false;
      throw dockerError(err, 'other', `could not inspect container ${this.short}`);
    }
  }

  async *output(afterLine: number, signal?: AbortSignal): AsyncGenerator<OutputLine[]> {
    let given = afterLine; // lines yielded or skipped so far
    let failures = 0;
    for (;;) {
      if (signal?.aborted) return;
      // a follow stream opened while the container runs may end as it stops, before the engine
      // logged its last (unfinished) line; one opened after it stopped holds everything
      const complete = await this.isRunning().then((running) => !running, () => false);
      const openedAt = Date.now();
      let stream: Readable;
      try {
        stream = (await this.container.logs({ follow: true, stdout: true, stderr: true, abortSignal: signal })) as Readable;
      } catch (err) {
        if (signal?.aborted) return;
        if (engineStatus(err) === 404) return; // removed: there is nothing left to read
        failures += 1;
        if (failures >= MAX_STREAM_FAILURES) throw dockerError(err, 'other', `could not read the output of container ${this.short}`);
        await delay(this.options.pollMs * failures, signal);
        continue;
      }
      // every stream starts at the container's first line: count lines, give out only new ones
      const decoder = new FrameDecoder();
      const splitter = new LineSplitter();
      let line = 0;
      let broken = false;
      const onAbort = () => stream.destroy();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          const out: OutputLine[] = [];
          for (const frame of decoder.push(chunk)) {
            if (frame.stream !== STDOUT && frame.stream !== STDERR) continue;
            for (const text of splitter.push(frame.payload)) {
              line += 1;
              if (line > given) out.push({ line, text });
            }
          }
          if (out.length > 0) {
            given = line;
            failures = 0;
            yield out;
          }
        }
      } catch (err) {
        if (signal?.aborted) return;
        if (err instanceof AgentqError) throw err;
        broken = true;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        stream.destroy();
      }
      if (signal?.aborted) return;
      if (!broken && decoder.pending === 0) {
        if (complete) {
          const rest = splitter.end();
          if (rest !== undefined && line + 1 > given) yield [{ line: line + 1, text: rest }];
          return;
        }
        // ended as the container stopped (read it once more, complete now), or while it runs
        // (a proxy's idle timeout, say): either way, open it again and read on
        if (Date.now() - openedAt < LONG_LIVED_MS) failures += 1;
        else failures = 0;
        if (failures >= MAX_STREAM_FAILURES) {
          throw new ProviderUnavailableError(`the output stream of container ${this.short} keeps ending while it runs`);
        }
        if (failures > 1) await delay(this.options.pollMs * (failures - 1), signal);
        continue;
      }
      // the stream broke: open it again and read on
      failures += 1;
      if (failures >= MAX_STREAM_FAILURES) {
        throw new ProviderUnavailableError(`the output stream of container ${this.short} keeps breaking`);
      }
      this.options.logger?.debug({ sandboxId: this.id, line: given }, 'sandbox output stream reopened');
      await delay(this.options.pollMs * failures, signal);
    }
  }

  async status(): Promise<SandboxStatus> {
    if (await this.isRunning()) return { state: 'running' };
    const code = await recordedExitCode(this.container);
    return code !== undefined ? { state: 'exited', exitCode: code } : { state: 'lost' };
  }

  async wait(signal?: AbortSignal): Promise<SandboxStatus> {
    for (;;) {
      const status = await this.status();
      if (status.state !== 'running' || signal?.aborted) return status;
      try {
        await this.container.wait({ condition: 'not-running', abortSignal: signal });
      } catch (err) {
        if (signal?.aborted) return this.status();
        if (engineStatus(err) === 404) return { state: 'lost' };
        await delay(this.options.pollMs, signal);
      }
    }
  }

  terminate(): Promise<void> {
    this.terminating ??= this.stop().catch((err: unknown) => {
      this.terminating = undefined;
      throw err;
    });
    return this.terminating;
  }

  private async stop(): Promise<void> {
    let failure: unknown;
    try {
      await this.container.stop({ t: Math.max(0, Math.ceil(this.options.graceMs / 1000)) });
    } catch (err) {
      const status = engineStatus(err);
      if (status !== 304 && status !== 404) failure = err; // 304: stopped already; 404: gone
    }
    let running: boolean;
    try {
      running = await this.isRunning();
    } catch (err) {
      throw new TerminateFailedError(`could not verify that container ${this.short} stopped`, { cause: err });
    }
    if (running) {
      throw new TerminateFailedError(`container ${this.short} still runs after it was stopped`, { cause: failure });
    }
  }

  async exec(command: string[]): Promise<ExecResult> {
    if (command.length === 0) throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', 'exec needs a command');
    try {
      return await this.execute(command);
    } catch (err) {
      throw dockerError(err, 'other', `could not run a command in container ${this.short}`);
    }
  }

  /** Runs a command in the container and collects its output and exit code. */
  private async execute(command: string[]): Promise<ExecResult> {
    const exec = await this.container.exec({ Cmd: command, AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false });
    const stream = await exec.start({ Detach: false, Tty: false });
    const decoder = new FrameDecoder();
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      for (const frame of decoder.push(chunk)) {
        if (frame.stream === STDOUT) stdout.push(frame.payload);
        else if (frame.stream === STDERR || frame.stream === SYSTEMERR) stderr.push(frame.payload);
      }
    }
    // the engine may mark the exec ended a moment after its output closed
    for (let attempt = 0; ; attempt++) {
      const info = await exec.inspect();
      if (!info.Running) {
        return {
          exitCode: info.ExitCode ?? -1,
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
        };
      }
      if (attempt >= 100) throw dispatchError('DISPATCH_SANDBOX_FAILED', `a command in container ${this.short} did not end after its output did`);
      await delay(20);
    }
  }

  /** Extracts files into a directory of the container, owned by the container's user. */
  private async put(dir: string, entries: ArchiveEntry[]): Promise<void> {
    this.owner ??= containerOwner(this.container, this.options.user).catch((err: unknown) => {
      this.owner = undefined;
      throw err;
    });
    await this.container.putArchive(await packArchive(entries, await this.owner), { path: dir });
  }

  /**
   * Replaces a private file. The engine's archive upload deletes a file before it writes the new
   * one, so while the command runs the file goes in under a temporary name and is renamed over
   * the old one inside the container (a reader sees the old or the new content, never neither).
   */
  async writeFile(name: string, content: string): Promise<void> {
    const file = privateFileName(name);
    try {
      if (await this.isRunning()) {
        const temp = `${file}.${randomBytes(6).toString('hex')}`;
        await this.put(TMP_DIR, [{ name: temp, type: 'file', mode: 0o600, content }]);
        let result: ExecResult | undefined;
        try {
          result = await this.execute(['mv', '-f', `${TMP_DIR}/${temp}`, `${WORK_DIR}/${file}`]);
        } catch (err) {
          // stopped meanwhile: nothing reads the file any more, so writing it in place is as good
          if (await this.isRunning()) throw err;
        }
        if (result?.exitCode === 0) return;
        if (result !== undefined) {
          throw dispatchError('DISPATCH_SANDBOX_FAILED', `could not replace ${file} in container ${this.short} (mv exited with ${result.exitCode})`);
        }
      }
      await this.put(WORK_DIR, [{ name: file, type: 'file', mode: 0o600, content }]);
    } catch (err) {
      throw dockerError(err, 'other', `could not write ${file} into container ${this.short}`);
    }
  }

  async readFile(name: string): Promise<string | undefined> {
    const file = privateFileName(name);
    let archive: NodeJS.ReadableStream;
    try {
      archive = await this.container.getArchive({ path: `${WORK_DIR}/${file}` });
    } catch (err) {
      if (engineStatus(err) === 404) return undefined;
      throw dockerError(err, 'other', `could not read ${file} from container ${this.short}`);
    }
    return (await readArchiveFile(archive))?.toString('utf8');
  }

  /** Ends what still runs and keeps the stopped container: its output and home serve follow-ups. */
  async release(): Promise<void> {
    if (await this.isRunning()) await this.terminate();
  }
}
