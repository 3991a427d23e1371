import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Counts the live sandboxes of the `local` provider from the kernel's point of view: a sandbox
 * is a process group led by the provider's wrapper (`bash -c … agentq-sandbox <dir> …`, `<dir>`
 * being `<data dir>/sandboxes/<task id>`), live while one of its members is not a zombie.
 */
export class SandboxCensus {
  /**
   * Process group id → the task id of its sandbox. Other groups are looked at again each time: a
   * leader seen between its fork and its exec still shows the command line of its parent.
   */
  private readonly groups = new Map<number, string>();
  private readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'sandboxes');
  }

  /** Task ids whose sandbox has a live process now. */
  live(): string[] {
    const out = new Set<string>();
    let entries: string[];
    try {
      entries = readdirSync('/proc');
    } catch {
      throw new Error('no /proc: the census needs Linux');
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue; // gone meanwhile
      }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const state = fields[0];
      const pgrp = Number(fields[2]);
      if (state === 'Z' || state === 'X') continue;
      let task = this.groups.get(pgrp);
      if (task === undefined && pgrp === pid) {
        task = this.sandboxOf(pid);
        if (task) this.groups.set(pgrp, task);
      }
      if (task) out.add(task);
    }
    return [...out];
  }

  private sandboxOf(pid: number): string | undefined {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const dir = argv[4];
      if (argv[0] !== 'bash' || argv[3] !== 'agentq-sandbox' || !dir || dirname(dir) !== this.root) return undefined;
      return basename(dir);
    } catch {
      return undefined;
    }
  }
}
