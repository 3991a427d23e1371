import type { LocalForge } from '@agentq/shared';

/** How long a repository found in the local forge is taken to be there without looking again. */
export const FORGE_REPO_TTL_MS = 5_000;

export interface ForgeRepoCacheOptions {
  ttlMs?: number;
  /** Milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
}

/**
 * Which repositories the local forge holds, as task admission asks it on every request: a
 * repository found is remembered for a few seconds (no file system look-up per task), one not
 * found is looked up again every time, so an imported repository is admitted at once. A
 * repository removed from disk by hand is still admitted for up to the TTL (the dispatcher then
 * fails its tasks with `DISPATCH_UNKNOWN_REPO`).
 */
export class ForgeRepoCache {
  private readonly found = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly forge: Pick<LocalForge, 'has'>,
    options: ForgeRepoCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? FORGE_REPO_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  has(repo: string): boolean {
    const now = this.now();
    const until = this.found.get(repo);
    if (until !== undefined && until > now) return true;
    if (!this.forge.has(repo)) {
      this.found.delete(repo);
      return false;
    }
    this.found.set(repo, now + this.ttlMs);
    return true;
  }
}
