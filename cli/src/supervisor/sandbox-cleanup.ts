import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupAlive, pollUntil, signal } from './process-info.js';

/** The process groups recorded by local sandboxes: `<dataDir>/sandboxes/<id>/pid`. */
export function sandboxGroups(dataDir: string): { sandbox: string; pgid: number }[] {
  const root = join(dataDir, 'sandboxes');
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: { sandbox: string; pgid: number }[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    let text: string | undefined;
    try {
      text = readFileSync(join(root, entry.name, 'pid'), 'utf8');
    } catch {
      continue;
    }
    const pgid = Number.parseInt(text.trim(), 10);
    if (Number.isInteger(pgid) && pgid > 1 && pgid !== process.pid) out.push({ sandbox: entry.name, pgid });
  }
  return out;
}

/**
 * Stops local sandboxes that are still running: SIGTERM to each live process group, then
 * SIGKILL to those still alive after `graceMs`. Answers the sandboxes that were stopped.
 */
export async function killSandboxes(dataDir: string, graceMs = 3000): Promise<string[]> {
  const live = sandboxGroups(dataDir).filter(({ pgid }) => groupAlive(pgid));
  for (const { pgid } of live) signal(-pgid, 'SIGTERM');
  const allGone = () => live.every(({ pgid }) => !groupAlive(pgid));
  if (!(await pollUntil(allGone, graceMs))) {
    for (const { pgid } of live) if (groupAlive(pgid)) signal(-pgid, 'SIGKILL');
    await pollUntil(allGone, 2000);
  }
  return live.map(({ sandbox }) => sandbox);
}

/** SIGKILL to every live sandbox group at once (forced stop). */
export function killSandboxesNow(dataDir: string): void {
  for (const { pgid } of sandboxGroups(dataDir)) if (groupAlive(pgid)) signal(-pgid, 'SIGKILL');
}
