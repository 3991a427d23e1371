import { watch } from 'node:fs';

/**
 * Waits `ms`, or less: until `name` appears in (or is renamed into) `dir`, as inotify tells it
 * where the platform has it. A sandbox's `exit-code` is noticed at once this way, not at the next
 * poll; the wait is the fallback (an event missed just before watching costs one poll, as before).
 */
export async function pauseUntilWritten(dir: string, name: string, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  const done = new AbortController();
  await new Promise<void>((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      done.abort();
      resolve();
    };
    const timer = setTimeout(finish, ms);
    signal?.addEventListener('abort', finish, { once: true });
    try {
      watch(dir, { signal: done.signal, persistent: false }, (_event, file) => {
        if (file === name) finish();
      }).on('error', () => undefined);
    } catch {
      // the directory cannot be watched: the wait alone
    }
  });
}
