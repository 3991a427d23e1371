import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Backoff, type RetryPolicy } from '@agentq/shared';
import { formatDuration } from '../render/format.js';
import type { PidFiles } from './pid-files.js';
import { groupAlive, signal } from './process-info.js';

/** The waits between restarts of a process that keeps exiting. */
export interface RestartPolicy extends RetryPolicy {
  /** A run that lasted this long counts as healthy: the next restart waits `initialMs` again. */
  resetAfterMs: number;
}

export const DEFAULT_RESTART: RestartPolicy = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 };

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Open an IPC channel: a child that uses it notices when the supervisor is gone. */
  ipc?: boolean;
  /** Receives each line the process writes. */
  output: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Receives what the supervisor has to say about the process (exits, restarts). */
  notice: (text: string) => void;
  restart?: RestartPolicy;
  /** Records the pid as `<name>.pid` while the process runs. */
  pidFiles?: PidFiles;
}

/**
 * A child process run under supervision: its own process group (so the terminal's Ctrl-C
 * reaches only the supervisor), output passed on line by line, restarted with exponential
 * backoff when it exits on its own, and stopped with SIGTERM, then SIGKILL of its group.
 */
export class ManagedProcess {
  /** Restart when the process exits on its own. */
  restartOnExit = true;
  restarts = 0;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<void> = Promise.resolve();
  private stopping = false;
  private startedAt = 0;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private readonly policy: RestartPolicy;
  private readonly exitListeners = new Set<(code: number | null, sig: NodeJS.Signals | null) => void>();

  constructor(private readonly options: ManagedProcessOptions) {
    this.policy = options.restart ?? DEFAULT_RESTART;
    this.backoff = new Backoff(this.policy);
  }

  get name(): string {
    return this.options.name;
  }

  /** Pid of the running process (also its process group id). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Called on every exit of the process, before any restart. */
  onExit(listener: (code: number | null, sig: NodeJS.Signals | null) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  start(): void {
    this.stopping = false;
    this.spawn();
  }

  private spawn(): void {
    this.timer = undefined;
    const { options } = this;
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.startedAt = Date.now();
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = child[stream];
      if (!source) continue;
      createInterface({ input: source, crlfDelay: Infinity }).on('line', (line) => options.output(line, stream));
    }
    const pid = child.pid;
    if (pid !== undefined) options.pidFiles?.write(options.name, pid);
    this.exitPromise = new Promise<void>((resolve) => {
      let done = false;
      const finish = (code: number | null, sig: NodeJS.Signals | null) => {
        if (done) return;
        done = true;
        this.exited(child, code, sig);
        resolve();
      };
      child.once('exit', finish);
      child.once('error', (err) => {
        options.notice(`${options.name} could not be started: ${err.message}`);
        finish(null, null);
      });
    });
  }

  private exited(child: ChildProcess, code: number | null, sig: NodeJS.Signals | null): void {
    if (this.child === child) this.child = undefined;
    if (child.pid !== undefined) {
      this.options.pidFiles?.remove(this.options.name, child.pid);
      // Anything the process left in its group goes with it.
      if (child.pid > 1 && groupAlive(child.pid)) signal(-child.pid, 'SIGKILL');
    }
    for (const listener of this.exitListeners) listener(code, sig);
    if (this.stopping || !this.restartOnExit) return;
    if (Date.now() - this.startedAt >= this.policy.resetAfterMs) this.backoff.reset();
    const delayMs = this.backoff.fail();
    const how = sig ? `was killed by ${sig}` : `exited with code ${code ?? '?'}`;
    this.options.notice(`${this.options.name} ${how}; restarting in ${formatDuration(delayMs)}`);
    this.restarts += 1;
    this.timer = setTimeout(() => this.spawn(), delayMs);
  }

  /**
   * Stops the process: SIGTERM, then after `graceMs` SIGKILL to its whole group. Safe to call
   * more than once.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const child = this.child;
    if (!child || child.pid === undefined) return;
    const exited = this.exitPromise;
    signal(child.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.options.notice(`${this.options.name} did not stop within ${formatDuration(graceMs)}; killing it`);
      this.kill();
      await exited;
    }
  }

  /** SIGKILL to the process group at once (the second Ctrl-C). */
  kill(): void {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const pid = this.child?.pid;
    if (pid !== undefined && pid > 1) signal(-pid, 'SIGKILL');
  }
}
