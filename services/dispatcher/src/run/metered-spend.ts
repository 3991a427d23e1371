import type { Redis } from 'ioredis';
import type { BudgetStop, RedisKeys } from '@agentq/shared';

/** What the model gateway recorded for a task: the USD it metered so far, and why it refused a call for money. */
export interface MeteredSpend {
  spentUsd: number;
  stop: BudgetStop | undefined;
}

/** The task's metered spend and budget stop, in one round trip (both keys share the task's hash slot). */
export async function readMeteredSpend(redis: Redis, keys: RedisKeys, taskId: string): Promise<MeteredSpend> {
  const [spend, stop] = await redis.mget(keys.taskSpend(taskId), keys.budgetStop(taskId));
  const spentUsd = Number(spend ?? 0);
  return { spentUsd: Number.isFinite(spentUsd) ? spentUsd : 0, stop: parseStop(stop ?? null) };
}

function parseStop(raw: string | null): BudgetStop | undefined {
  if (raw === null) return undefined;
  try {
    const stop = JSON.parse(raw) as Partial<BudgetStop>;
    if (stop.scope !== 'task' && stop.scope !== 'team') return undefined;
    return { scope: stop.scope, limitUsd: Number(stop.limitUsd ?? 0), spentUsd: Number(stop.spentUsd ?? 0) };
  } catch {
    return undefined;
  }
}
