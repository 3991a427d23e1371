import type { Redis } from 'ioredis';
import { TEAM_COST_TTL_SEC, utcDay } from '../budgets/team-spend.js';
import type { RedisKeys } from '../redis/keys.js';

/** How long a task's metered spend is kept after its last call. */
export const TASK_SPEND_TTL_SEC = 7 * 24 * 3600;

/** Why the gateway refused a task's model call for money. */
export interface BudgetStop {
  /** `task`: the task's `limits.maxCostUsd`; `team`: the team's `AGENTQ_TEAM_DAILY_USD`. */
  scope: 'task' | 'team';
  limitUsd: number;
  spentUsd: number;
}

/**
 * Adds the price of one model call to its task's spend and its team's spend of the UTC day of
 * `at`, in one script; returns both totals after it.
 */
export async function recordSpend(
  redis: Redis,
  keys: RedisKeys,
  call: { taskId: string; team: string; usd: number; at: Date },
): Promise<{ taskUsd: number; teamDayUsd: number }> {
  const usd = Number.isFinite(call.usd) && call.usd > 0 ? call.usd : 0;
  const taskKey = keys.taskSpend(call.taskId);
  const teamKey = keys.teamCost(call.team, utcDay(call.at));
  const result = await redis
    .multi()
    .incrbyfloat(taskKey, usd)
    .expire(taskKey, TASK_SPEND_TTL_SEC)
    .incrbyfloat(teamKey, usd)
    .expire(teamKey, TEAM_COST_TTL_SEC)
    .exec();
  const number = (i: number) => Number(result?.[i]?.[1] ?? 0);
  return { taskUsd: number(0), teamDayUsd: number(2) };
}

/** USD the gateway metered for a task so far (0 when none). */
export async function taskSpend(redis: Redis, keys: RedisKeys, taskId: string): Promise<number> {
  const value = Number((await redis.get(keys.taskSpend(taskId))) ?? 0);
  return Number.isFinite(value) ? value : 0;
}

/** Records that the gateway refused a task's call for money (the first reason stays). */
export async function setBudgetStop(redis: Redis, keys: RedisKeys, taskId: string, stop: BudgetStop): Promise<void> {
  await redis.set(keys.budgetStop(taskId), JSON.stringify(stop), 'EX', TASK_SPEND_TTL_SEC, 'NX');
}

/** Why the gateway refused the task's calls for money, if it did. */
export async function budgetStop(redis: Redis, keys: RedisKeys, taskId: string): Promise<BudgetStop | undefined> {
  const raw = await redis.get(keys.budgetStop(taskId));
  if (raw === null) return undefined;
  try {
    return JSON.parse(raw) as BudgetStop;
  } catch {
    return undefined;
  }
}
