import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function makeTempDir(label = 'agentq-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), label));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A Redis key prefix unique to one test. */
export function uniquePrefix(label = 't'): string {
  return `aqt-${label}-${randomBytes(4).toString('hex')}`;
}
