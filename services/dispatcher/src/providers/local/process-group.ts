import { readFileSync, readdirSync } from 'node:fs';

interface ProcStat {
  state: string;
  pgrp: number;
  startTime: string;
}

/** Fields of `/proc/<pid>/stat`, or undefined when the process does not exist (or there is no /proc). */
function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  //  cutime cstime priority nice num_threads itrealvalue starttime ..."; comm may hold spaces and parens.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const startTime = fields[19];
  if (state === undefined || startTime === undefined || !Number.isInteger(pgrp)) return undefined;
  return { state, pgrp, startTime };
}

/** When a process started (clock ticks since boot), to tell it apart from a later one with the same pid. */
export function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * True while the process group has a member that is not a zombie. Zombies count as gone: they run
 * nothing, and whether they are reaped depends on the init process of the machine.
 */
export function isGroupAlive(pgid: number): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  if (!signalGroup(pgid, 0)) return false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true; // no /proc: trust the signal check
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') return true;
  }
  return false;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isGroupAlive(pgid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
}

/**
 * Stops a whole process group: SIGTERM, then SIGKILL after `graceMs`. Resolves true once no member
 * is left running, false if some member survived SIGKILL (it left the group or is stuck in the kernel).
 */
export async function killGroup(pgid: number, graceMs: number): Promise<boolean> {
  if (!isGroupAlive(pgid)) return true;
  signalGroup(pgid, 'SIGTERM');
  if (await waitGone(pgid, graceMs)) return true;
  signalGroup(pgid, 'SIGKILL');
  return waitGone(pgid, 5000);
}
