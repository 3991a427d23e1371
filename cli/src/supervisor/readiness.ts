import type { SandboxInfo } from './banner.js';
import { sleep } from './process-info.js';

/** True when `GET url` answers 2xx within a second. */
export async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Waits until every URL answers 2xx. Calls `slow` once if that takes longer than `slowAfterMs`
 * (with the URLs still not ready); rejects when `signal` aborts.
 */
export async function waitUntilReady(
  urls: string[],
  options: { signal: AbortSignal; slowAfterMs?: number; slow?: (pending: string[]) => void; intervalMs?: number },
): Promise<void> {
  const started = Date.now();
  let warned = false;
  let pending = urls;
  for (;;) {
    options.signal.throwIfAborted();
    const results = await Promise.all(pending.map(isReady));
    pending = pending.filter((_, i) => !results[i]);
    if (pending.length === 0) return;
    if (!warned && Date.now() - started > (options.slowAfterMs ?? 30_000)) {
      warned = true;
      options.slow?.(pending);
    }
    await sleep(options.intervalMs ?? 200);
  }
}

/** The `sandbox` part of a dispatcher's `/healthz` (provider, isolation), or undefined when it does not answer with one. */
export async function sandboxInfo(url: string): Promise<SandboxInfo | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { sandbox?: unknown };
    const s = body.sandbox as SandboxInfo | undefined;
    return s && typeof s.provider === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}
