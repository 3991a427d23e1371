import { rm } from 'node:fs/promises';
import { DEMO_REPO, DEMO_REPO_FILES, LocalForge } from '@agentq/shared';
import { makeTempDir } from '@agentq/shared/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ForgeRepoCache } from '../src/tasks/forge-repo-cache.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('ForgeRepoCache', () => {
  it('remembers a repository found for the TTL and looks again for one not found', async () => {
    const dir = await makeTempDir('agentq-forge-cache-');
    cleanups.push(() => dir.remove());
    const forge = new LocalForge(dir.path);
    let now = 0;
    const cache = new ForgeRepoCache(forge, { ttlMs: 1000, now: () => now });

    expect(cache.has(DEMO_REPO)).toBe(false);
    // imported after a miss: admitted at once
    await forge.seed(DEMO_REPO, DEMO_REPO_FILES);
    expect(cache.has(DEMO_REPO)).toBe(true);

    // removed from disk: still taken to be there within the TTL, not after
    await rm(forge.path(DEMO_REPO), { recursive: true, force: true });
    now = 999;
    expect(cache.has(DEMO_REPO)).toBe(true);
    now = 1000;
    expect(cache.has(DEMO_REPO)).toBe(false);
    expect(cache.has(DEMO_REPO)).toBe(false);
  });
});
