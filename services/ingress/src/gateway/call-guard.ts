import { isFinalState, taskSpend, teamCostOfDay, setBudgetStop, type GatewayGrant, type RedisKeys, type TaskStore } from '@agentq/shared';
import type { Redis } from 'ioredis';
import type { IngressErrorCode } from '../http/ingress-errors.js';

/** A call the gateway answers itself: the code for logs and metrics, the client's message. */
export interface Refused {
  code: IngressErrorCode;
  message: string;
  retryAfterSec?: number;
}

export interface CallGuardDeps {
  redis: Redis;
  keys: RedisKeys;
  store: TaskStore;
  teamDailyUsd: Readonly<Record<string, number>>;
  taskRpm: number;
  teamRpm: number;
}

const usd = (value: number) => `$${value.toFixed(2)}`;
const RATE_WINDOW_MS = 60_000;

/**
 * Checks a task's call before it is forwarded: the task still runs, its own spending limit and
 * its team's daily cap are not reached (a refusal for money is recorded as the task's budget
 * stop), and the task's and team's calls this minute are within their rates.
 */
export async function guardCall(deps: CallGuardDeps, grant: GatewayGrant, now: Date): Promise<Refused | undefined> {
  const { redis, keys } = deps;
  // one round trip: the rate counters count refused calls too
  const [task, spent, teamSpent, rate] = await Promise.all([
    deps.store.get(grant.taskId),
    taskSpend(redis, keys, grant.taskId),
    teamCostOfDay(redis, keys, grant.team, now),
    rateLimit(deps, grant, now),
  ]);
  if (!task || isFinalState(task.state)) {
    return { code: 'INGRESS_GATEWAY_TASK_ENDED', message: `agentq: task ${grant.taskId} has ended; its model calls are over` };
  }
  const taskLimit = task.limits?.maxCostUsd;
  if (taskLimit !== undefined && spent >= taskLimit) {
    await setBudgetStop(redis, keys, grant.taskId, { scope: 'task', limitUsd: taskLimit, spentUsd: spent });
    return {
      code: 'INGRESS_GATEWAY_TASK_BUDGET',
      message: `agentq: task ${grant.taskId} reached its spending limit of ${usd(taskLimit)} (${usd(spent)} spent); no more model calls`,
    };
  }
  const teamCap = deps.teamDailyUsd[grant.team];
  if (teamCap !== undefined && teamSpent >= teamCap) {
    await setBudgetStop(redis, keys, grant.taskId, { scope: 'team', limitUsd: teamCap, spentUsd: teamSpent });
    return {
      code: 'INGRESS_GATEWAY_TEAM_BUDGET',
      message: `agentq: team ${grant.team} reached its daily spending cap of ${usd(teamCap)} (${usd(teamSpent)} spent today, UTC); no more model calls until 00:00 UTC`,
    };
  }
  return rate;
}

async function rateLimit(deps: CallGuardDeps, grant: GatewayGrant, now: Date): Promise<Refused | undefined> {
  const minute = Math.floor(now.getTime() / RATE_WINDOW_MS);
  const count = async (scope: 'task' | 'team', id: string) => {
    const key = deps.keys.gatewayCalls(scope, id, minute);
    const result = await deps.redis.multi().incr(key).expire(key, 120).exec();
    return Number(result?.[0]?.[1] ?? 0);
  };
  // one key per transaction: the two counters may live on different cluster slots
  const [taskCalls, teamCalls] = await Promise.all([count('task', grant.taskId), count('team', grant.team)]);
  const retryAfterSec = Math.max(1, Math.ceil(((minute + 1) * RATE_WINDOW_MS - now.getTime()) / 1000));
  if (taskCalls > deps.taskRpm) {
    return { code: 'INGRESS_GATEWAY_RATE_LIMITED', message: `agentq: task ${grant.taskId} made more than ${deps.taskRpm} model calls this minute; retry after ${retryAfterSec} s`, retryAfterSec };
  }
  if (teamCalls > deps.teamRpm) {
    return { code: 'INGRESS_GATEWAY_RATE_LIMITED', message: `agentq: team ${grant.team} made more than ${deps.teamRpm} model calls this minute; retry after ${retryAfterSec} s`, retryAfterSec };
  }
  return undefined;
}
