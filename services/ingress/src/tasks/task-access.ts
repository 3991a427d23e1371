import { isTaskId, withCurrentWaiting, type TaskRecord, type TaskStore, type TranscriptArchive } from '@agentq/shared';
import type { Principal } from '../auth/api-token-auth.js';
import { archiveCall } from '../http/archive-call.js';
import { ingressError, taskNotFound } from '../http/ingress-errors.js';
import { redisCall } from '../http/redis-call.js';

export function requireTaskId(id: string): string {
  if (!isTaskId(id)) throw ingressError('INGRESS_INVALID_TASK_ID', 'task ids are 26 lowercase base32 characters');
  return id;
}

/** May this principal see the task? Tokens of a team other than `default` see only their team's tasks. */
export function canSee(principal: Principal | undefined, task: TaskRecord): boolean {
  return principal === undefined || principal.admin || principal.team === task.team;
}

/**
 * The task record from Redis, or from the archive when Redis no longer holds it. A task of
 * another team is reported as not found, so ids of other teams' tasks reveal nothing. A task
 * waiting for a concurrency slot shows where it stands now (`waiting.position`).
 */
export async function loadTask(
  store: TaskStore,
  archive: TranscriptArchive,
  id: string,
  principal: Principal | undefined,
): Promise<TaskRecord> {
  requireTaskId(id);
  const task = (await redisCall(() => store.get(id))) ?? (await archiveCall(() => archive.readTask(id)));
  if (!task || !canSee(principal, task)) throw taskNotFound(id);
  if (task.waiting) return redisCall(() => withCurrentWaiting(store.redis, store.keys, task));
  return task;
}
