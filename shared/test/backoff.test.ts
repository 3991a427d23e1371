import { describe, expect, it } from 'vitest';
import { Backoff, retryDelay, type Clock } from '../src/index.js';

/** A clock that only moves when told to; sleeping moves it. */
function manualClock(start = 1_000_000): Clock & { slept: number[] } {
  let now = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

describe('retry policy', () => {
  const policy = { initialMs: 100, maxMs: 1000, jitter: 0 };

  it('doubles from the first wait up to the longest, and waits nothing before a failure', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => retryDelay(policy, n))).toEqual([0, 100, 200, 400, 800, 1000, 1000]);
    expect(retryDelay({ ...policy, factor: 3 }, 3)).toBe(900);
    expect(retryDelay(policy, 10_000)).toBe(1000);
  });

  it('spreads each wait by the jitter, never past the longest wait', () => {
    const jittery = { initialMs: 100, maxMs: 1000, jitter: 0.5 };
    expect(retryDelay(jittery, 2, () => 0)).toBe(100); // 200 × 0.5
    expect(retryDelay(jittery, 2, () => 0.5)).toBe(200);
    expect(retryDelay(jittery, 2, () => 0.999)).toBe(300);
    expect(retryDelay(jittery, 8, () => 0.999)).toBe(1000);
    const seen = new Set(Array.from({ length: 50 }, () => retryDelay({ initialMs: 1000, maxMs: 10_000 }, 1)));
    expect(seen.size).toBeGreaterThan(1);
    for (const ms of seen) {
      expect(ms).toBeGreaterThanOrEqual(800);
      expect(ms).toBeLessThanOrEqual(1200);
    }
  });

  it('counts failures, waits on its clock, and starts over after a success', async () => {
    const clock = manualClock();
    const backoff = new Backoff(policy, { clock });
    expect(await backoff.wait()).toBe(100);
    expect(await backoff.wait()).toBe(200);
    expect(backoff.failures).toBe(2);
    expect(clock.slept).toEqual([100, 200]);
    expect(backoff.fail()).toBe(400);
    backoff.reset();
    expect(backoff.fail()).toBe(100);
  });

  it('stops waiting when the signal aborts', async () => {
    const backoff = new Backoff({ initialMs: 60_000, maxMs: 60_000 });
    const controller = new AbortController();
    const started = Date.now();
    const waiting = backoff.wait(controller.signal);
    controller.abort();
    await waiting;
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
