import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.js';
import { LuaScript } from '../redis/lua-script.js';
import type { TaskRecord, TaskWaiting } from '../tasks/task-record.js';
import { SLOT_LEDGER_LUA, slotScriptKeys } from './slot-ledger-lua.js';

/**
 * Read-only. ARGV: slot key prefix, task id. Returns {reason, position} of a task waiting for a
 * slot, with the limits the dispatchers last ran with; nothing when the ledger has no such task
 * (or no cap holds it back at this instant).
 */
const positionScript = new LuaScript(`${SLOT_LEDGER_LUA}
local reason, position = positionOf(storedLimits(), ARGV[2])
if not reason then return nil end
return {reason, position}
`);

/** Where a task waiting for a concurrency slot stands now; undefined when it waits for none. */
export async function slotPosition(redis: Redis, keys: RedisKeys, taskId: string): Promise<Pick<TaskWaiting, 'reason' | 'position'> | undefined> {
  const result = (await positionScript.run(redis, slotScriptKeys(keys), [keys.slots, taskId])) as [TaskWaiting['reason'], number] | null;
  if (!result) return undefined;
  return { reason: result[0], position: result[1] };
}

/**
 * The task with its `waiting` as of now: the reason and position the slot ledger gives a task
 * waiting for a slot (the record keeps the ones noted when the task last looked). A task that
 * waits for another task, or waits for nothing, is returned as it is; one that started or ended
 * meanwhile (canceled while it waited) waits no more.
 */
export async function withCurrentWaiting(redis: Redis, keys: RedisKeys, task: TaskRecord): Promise<TaskRecord> {
  const waiting = task.waiting;
  if (!waiting) return task;
  if (task.state !== 'queued' && task.state !== 'starting') {
    const { waiting: _gone, ...rest } = task;
    return rest;
  }
  if (waiting.reason === 'predecessor') return task;
  const now = await slotPosition(redis, keys, task.id);
  return now ? { ...task, waiting: { ...waiting, ...now } } : task;
}
