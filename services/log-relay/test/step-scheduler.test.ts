import { waitFor } from '@agentq/shared/testing';
import { describe, expect, it } from 'vitest';
import { StepScheduler, type StepSchedulerOptions } from '../src/step-scheduler.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise with its resolve. */
function gate(): { promise: Promise<void>; open(): void } {
  let open: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** A scheduler over scripted steps: records when each step ran and whether two ever overlapped. */
function scripted(script: ((n: number) => Promise<number | undefined>)[], options: Partial<StepSchedulerOptions> = {}) {
  const ran: number[] = [];
  const failures: unknown[] = [];
  let running = 0;
  let overlapped = false;
  const scheduler = new StepScheduler({
    step: async () => {
      const n = ran.length;
      ran.push(Date.now());
      running += 1;
      if (running > 1) overlapped = true;
      try {
        return await (script[n] ?? (async () => undefined))(n);
      } finally {
        running -= 1;
      }
    },
    failed: async (err) => {
      failures.push(err);
      return undefined;
    },
    ...options,
  });
  return { scheduler, ran, failures, overlapped: () => overlapped };
}

describe('StepScheduler', () => {
  it('runs one step at a time: a kick during a step runs one more right after it', async () => {
    const first = gate();
    const { scheduler, ran, overlapped } = scripted([async () => (await first.promise, undefined)]);
    scheduler.kick();
    await waitFor(() => ran.length === 1, { what: 'first step' });
    scheduler.kick();
    scheduler.kick();
    await sleep(30);
    expect(ran).toHaveLength(1);
    first.open();
    await waitFor(() => ran.length === 2, { what: 'the step that follows' });
    await scheduler.idle();
    await sleep(30);
    // the kicks during the first step made one more step, not two
    expect(ran).toHaveLength(2);
    expect(overlapped()).toBe(false);
  });

  it('comes back when a step says so, and waits for a kick when it says nothing', async () => {
    const { scheduler, ran } = scripted([async () => 80, async () => undefined]);
    const start = Date.now();
    scheduler.kick();
    await waitFor(() => ran.length === 2, { what: 'the step the first one asked for' });
    expect((ran[1] ?? 0) - start).toBeGreaterThanOrEqual(75);
    await sleep(150);
    expect(ran).toHaveLength(2);
    scheduler.kick();
    await waitFor(() => ran.length === 3, { what: 'a kicked step' });
  });

  it('a kick during a wait the step asked for runs at once', async () => {
    const { scheduler, ran } = scripted([async () => 5000]);
    scheduler.kick();
    await waitFor(() => ran.length === 1, { what: 'first step' });
    await scheduler.idle();
    scheduler.kick();
    await waitFor(() => ran.length === 2, { what: 'kicked step' });
    expect((ran[1] ?? 0) - (ran[0] ?? 0)).toBeLessThan(1000);
    scheduler.stop();
  });

  it('holds kicks back until a failed step is due again, then retries it', async () => {
    const boom = new Error('boom');
    const failures: unknown[] = [];
    const ran: number[] = [];
    const scheduler = new StepScheduler({
      step: async () => {
        ran.push(Date.now());
        if (ran.length === 1) throw boom;
        return undefined;
      },
      failed: async (err) => {
        failures.push(err);
        return 200;
      },
    });
    scheduler.kick();
    await waitFor(() => failures.length === 1, { what: 'failure' });
    await scheduler.idle();
    expect(failures).toEqual([boom]);
    expect(scheduler.holding).toBe(true);
    scheduler.kick();
    await sleep(50);
    expect(ran).toHaveLength(1);
    await waitFor(() => ran.length === 2, { what: 'retry' });
    expect((ran[1] ?? 0) - (ran[0] ?? 0)).toBeGreaterThanOrEqual(190);
    expect(scheduler.holding).toBe(false);
  });

  it('reads the retry hold from its clock', async () => {
    let now = 1_000_000;
    const scheduler = new StepScheduler({
      clock: { now: () => now },
      step: async () => {
        throw new Error('down');
      },
      failed: async () => 60_000,
    });
    scheduler.kick();
    await scheduler.idle();
    expect(scheduler.holding).toBe(true);
    now += 60_000;
    expect(scheduler.holding).toBe(false);
    scheduler.stop();
  });

  it('waits for the work it comes after before the first step', async () => {
    const earlier = gate();
    const { scheduler, ran } = scripted([], { after: earlier.promise });
    scheduler.kick();
    await sleep(50);
    expect(ran).toHaveLength(0);
    earlier.open();
    await waitFor(() => ran.length === 1, { what: 'first step' });
  });

  it('stops for good: no step starts again, and a step that fails after the stop is not a failure', async () => {
    const inFlight = gate();
    const { scheduler, ran, failures } = scripted([
      async () => {
        await inFlight.promise;
        throw new Error('released mid-call');
      },
    ]);
    scheduler.kick();
    await waitFor(() => ran.length === 1, { what: 'first step' });
    scheduler.kick();
    scheduler.stop();
    expect(scheduler.isStopped).toBe(true);
    let idle = false;
    const idling = scheduler.idle().then(() => {
      idle = true;
    });
    await sleep(20);
    expect(idle).toBe(false);
    inFlight.open();
    await idling;
    scheduler.kick();
    await sleep(50);
    expect(ran).toHaveLength(1);
    expect(failures).toEqual([]);
  });

  it('stop cancels a scheduled comeback', async () => {
    const { scheduler, ran } = scripted([async () => 50]);
    scheduler.kick();
    await waitFor(() => ran.length === 1, { what: 'first step' });
    await scheduler.idle();
    scheduler.stop();
    await sleep(120);
    expect(ran).toHaveLength(1);
  });
});
