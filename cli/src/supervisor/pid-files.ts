import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandLine, isRunning, pollUntil, signal } from './process-info.js';

/** Pid files of the processes `npm start` runs: `<dataDir>/run/<name>.pid`. */
export class PidFiles {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'run');
  }

  path(name: string): string {
    return join(this.dir, `${name}.pid`);
  }

  write(name: string, pid: number): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.path(name), `${pid}\n`);
  }

  read(name: string): number | undefined {
    try {
      const pid = Number.parseInt(readFileSync(this.path(name), 'utf8').trim(), 10);
      return Number.isInteger(pid) && pid > 1 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Removes the file if it still names `pid` (or unconditionally without one). */
  remove(name: string, pid?: number): void {
    if (pid !== undefined && this.read(name) !== pid) return;
    rmSync(this.path(name), { force: true });
  }

  /**
   * The pid in the file when that process is still alive and its command line contains
   * `marker` (so a reused pid is never mistaken for ours).
   */
  async live(name: string, marker: string): Promise<number | undefined> {
    const pid = this.read(name);
    if (pid === undefined || !(await isRunning(pid))) return undefined;
    const cmd = await commandLine(pid);
    return cmd?.includes(marker) ? pid : undefined;
  }

  /**
   * Stops a process left behind by an earlier run that crashed (SIGTERM, then SIGKILL), when
   * its pid file names a live process matching `marker`. Answers its pid when there was one.
   */
  async killStale(name: string, marker: string, graceMs = 5000): Promise<number | undefined> {
    const pid = await this.live(name, marker);
    if (pid !== undefined) {
      signal(pid, 'SIGTERM');
      if (!(await pollUntil(async () => !(await isRunning(pid)), graceMs))) signal(pid, 'SIGKILL');
      await pollUntil(async () => !(await isRunning(pid)), 2000);
    }
    this.remove(name);
    return pid;
  }
}
