import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.js';

/** How long a team's day of spending is kept after it was last added to. */
export const TEAM_COST_TTL_SEC = 4 * 24 * 3600;

/** The UTC day of an instant, `YYYY-MM-DD`. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** Whole seconds from `now` to the next UTC midnight (at least 1). */
export function secondsUntilUtcMidnight(now: Date): number {
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((midnight - now.getTime()) / 1000));
}

/** Adds the cost of a task that ended at `at` to its team's day. */
export async function addTeamCost(redis: Redis, keys: RedisKeys, team: string, usd: number, at: Date): Promise<void> {
  if (!(usd > 0) || !Number.isFinite(usd)) return;
  const key = keys.teamCost(team, utcDay(at));
  await redis.multi().incrbyfloat(key, usd).expire(key, TEAM_COST_TTL_SEC).exec();
}

/** USD the team's tasks that ended on the UTC day of `at` cost (0 when none). */
export async function teamCostOfDay(redis: Redis, keys: RedisKeys, team: string, at: Date): Promise<number> {
  const value = await redis.get(keys.teamCost(team, utcDay(at)));
  const usd = value === null ? 0 : Number(value);
  return Number.isFinite(usd) ? usd : 0;
}
