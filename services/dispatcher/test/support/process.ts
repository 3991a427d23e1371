import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '@agentq/shared/testing';

/** True while any process (zombies included) is in the group, as the kernel sees it. */
export function groupSignalable(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * Waits until the group has no process left at all. Orphaned members that were killed linger as
 * zombies until the machine's init reaps them, which can take a moment.
 */
export async function waitGroupGone(pgid: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => !groupSignalable(pgid), { timeoutMs, intervalMs: 50, what: `process group ${pgid} to be gone` });
}

/** The process group id a local sandbox recorded. */
export async function sandboxPgid(dataDir: string, sandboxId: string): Promise<number> {
  const meta = JSON.parse(await readFile(join(dataDir, 'sandboxes', sandboxId, 'sandbox.json'), 'utf8')) as { pgid?: number };
  if (typeof meta.pgid !== 'number') throw new Error(`sandbox ${sandboxId} has no pgid`);
  return meta.pgid;
}
