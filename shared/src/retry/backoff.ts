import { systemClock, type Clock } from './clock.js';

/**
 * How long to wait between attempts: `initialMs` after the first failure, `factor` times longer
 * after each further one, never more than `maxMs`. Each wait is spread by ±`jitter` (a fraction
 * of it) so that many clients that failed together do not retry together.
 */
export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
  /** Growth per failure (default 2). */
  factor?: number;
  /** Spread of each wait, 0 to 1 (default 0.2: ±20 %). */
  jitter?: number;
}

/** A number in [0, 1), as `Math.random` gives. */
export type Random = () => number;

/** The wait after `failures` consecutive failures (1 = the first), jitter included, at most `maxMs`. */
export function retryDelay(policy: RetryPolicy, failures: number, random: Random = Math.random): number {
  if (failures < 1) return 0;
  const factor = policy.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0.2));
  // past the cap the exponent stops mattering; bounding it keeps the number finite
  const steps = Math.min(failures - 1, 64);
  const base = Math.min(policy.maxMs, policy.initialMs * factor ** steps);
  const spread = 1 - jitter + 2 * jitter * random();
  return Math.max(0, Math.min(policy.maxMs, Math.round(base * spread)));
}

/**
 * The failures of one thing that is retried (a connection, a delivery): each failure makes the
 * next wait longer, a success starts over.
 */
export class Backoff {
  private count = 0;
  private readonly clock: Clock;
  private readonly random: Random;

  constructor(
    readonly policy: RetryPolicy,
    options: { clock?: Clock; random?: Random } = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.count;
  }

  /** Counts a failure; returns how long to wait before the next attempt. */
  fail(): number {
    this.count += 1;
    return retryDelay(this.policy, this.count, this.random);
  }

  /** Counts a failure and waits before the next attempt (less when `signal` aborts); returns the wait. */
  async wait(signal?: AbortSignal): Promise<number> {
    const ms = this.fail();
    await this.clock.sleep(ms, signal);
    return ms;
  }

  /** A success: the next failure waits `initialMs` again. */
  reset(): void {
    this.count = 0;
  }
}
