import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskRecord } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import { startStack } from '../test/support/stack.js';
import { fmt, percentiles } from './stats.js';

export interface HandoffBenchOptions {
  /** Tasks run one after another through a pool of one slot: tasks − 1 hand-offs. */
  tasks: number;
}

interface LogLine {
  time?: number;
  msg?: string;
  taskId?: string;
}

/**
 * Slot hand-off on an idle pool: `AGENTQ_MAX_RUNNING=1`, one dispatcher process (the ingress
 * beside it), demo tasks with no pacing all queued at once, so each waits for the one before.
 * For each pair of consecutive tasks it takes, from the files and logs of the run:
 *   - hand-off: the slot of the task that ended is freed (the dispatcher's `slot freed`, logged
 *     once the provider confirmed its sandbox gone) → the next task's sandbox is created (its
 *     `sandbox.json` written after the sandbox's process started);
 *   - end to end: the sandbox's program exited (its `exit-code` file) → the next one is created,
 *     which adds the dispatcher noticing the end (the local provider hears of the `exit-code` file
 *     from inotify, or polls every 75 ms where there is none) and
 *     recording the run's outcome.
 */
export async function benchHandoff(options: HandoffBenchOptions): Promise<void> {
  const stack = await startStack(
    { AGENTQ_LOG_LEVEL: 'debug', AGENTQ_DEMO_DELAY_MS: '0', AGENTQ_MAX_RUNNING: '1', AGENTQ_DISPATCHER_CONCURRENCY: '4' },
    ['ingress', 'dispatcher'],
  );
  try {
    const ids: string[] = [];
    for (let i = 0; i < options.tasks; i++) {
      const res = await stack.api('/v1/tasks', { method: 'POST', body: JSON.stringify({ repo: 'demo/hello', prompt: `add a NOTES-${i}.md` }) });
      ids.push(((await res.json()) as { id: string }).id);
    }
    await waitFor(
      async () => {
        const states = await Promise.all(ids.map(async (id) => ((await (await stack.api(`/v1/tasks/${id}`)).json()) as TaskRecord).state));
        if (states.some((s) => s === 'failed' || s === 'canceled' || s === 'timed_out')) throw new Error(`a task did not succeed: ${states.join(', ')}`);
        return states.every((s) => s === 'succeeded');
      },
      { timeoutMs: 600_000, intervalMs: 250, what: 'every task to succeed' },
    );

    const freedAt = new Map<string, number>();
    const output = stack.services.get('dispatcher')?.output.join('') ?? '';
    for (const line of output.split('\n')) {
      if (!line.includes('"slot freed"')) continue;
      const log = JSON.parse(line) as LogLine;
      if (log.taskId && log.time) freedAt.set(log.taskId, log.time);
    }
    const sandboxes = join(stack.dataDir, 'sandboxes');
    const runs = await Promise.all(
      ids.map(async (id) => ({
        id,
        created: (await stat(join(sandboxes, id, 'sandbox.json'))).mtimeMs,
        exited: (await stat(join(sandboxes, id, 'exit-code'))).mtimeMs,
        freed: freedAt.get(id),
      })),
    );
    runs.sort((a, b) => a.created - b.created);
    const handoff: number[] = [];
    const endToEnd: number[] = [];
    for (let i = 1; i < runs.length; i++) {
      const [before, after] = [runs[i - 1], runs[i]] as [(typeof runs)[number], (typeof runs)[number]];
      if (after.created < before.exited) throw new Error(`sandboxes of ${before.id} and ${after.id} overlapped`);
      if (before.freed !== undefined) handoff.push(after.created - before.freed);
      endToEnd.push(after.created - before.exited);
    }
    const line = (name: string, samples: number[]) => {
      const p = percentiles(samples);
      return `  ${name.padEnd(44)} p50 ${fmt(p.p50)}  p90 ${fmt(p.p90)}  p99 ${fmt(p.p99)}  max ${fmt(Math.max(...samples))}  (${samples.length})`;
    };
    console.log(`slot hand-off on an idle pool (AGENTQ_MAX_RUNNING=1, ${options.tasks} demo tasks queued at once, one dispatcher)`);
    console.log(line('slot freed → next sandbox created', handoff));
    console.log(line('sandbox program exited → next sandbox created', endToEnd));
  } finally {
    await stack.stop();
  }
}
