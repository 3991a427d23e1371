import { LuaScript } from './lua-script.js';

/*
 * Event JSON arrives without `seq` and always starts with `{"`; the scripts assign the next seq
 * from the record's `lastSeq` counter and splice it in, so seq is contiguous whoever writes.
 * Stream entry ids are `<seq>-0`, which makes a second append of the same seq impossible.
 */

const APPEND_ONE = `
local function append(taskKey, eventsKey, json, extra)
  local seq = redis.call('HINCRBY', taskKey, 'lastSeq', 1)
  redis.call('XADD', eventsKey, seq .. '-0', 'e', '{"seq":' .. seq .. ',' .. extra .. string.sub(json, 2))
  return seq
end
`;

/**
 * KEYS: task, events, task index, and optionally the relay's task list. ARGV: event json, task
 * id, index score (creation time, ms), and the record's field/value pairs as one JSON array of
 * strings, ending with `lastSeq 0` (one argument, not dozens: cheaper to send). Writes the record
 * with its first event (seq 1), indexes it and, with the fourth key, adds `taskId <id>` to the
 * task list, in one step: a task is never indexed or announced without its record. Returns 0 when
 * the task exists (nothing written), else the task list entry's id, or 1 without a task list.
 */
export const createTaskScript = new LuaScript(`${APPEND_ONE}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[4])))
append(KEYS[1], KEYS[2], ARGV[1], '')
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
if KEYS[4] then return redis.call('XADD', KEYS[4], '*', 'taskId', ARGV[2]) end
return 1
`);

/**
 * KEYS: task, events. ARGV: new state (JSON), allowed from-states (JSON, comma separated),
 * event json, updatedAt (JSON), then field/value pairs.
 * Returns {seq, previousState}; seq is -1 when the task does not exist, 0 when the move is illegal.
 */
export const transitionScript = new LuaScript(`${APPEND_ONE}
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {-1, ''} end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do
  if s == cur then allowed = true end
end
if not allowed then return {0, cur} end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updatedAt', ARGV[4])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local seq = append(KEYS[1], KEYS[2], ARGV[3], '"from":' .. cur .. ',')
return {seq, cur}
`);

/**
 * KEYS: task, events. ARGV: final states (JSON, comma separated), then event jsons.
 * Returns the last seq written; -1 when the task does not exist, -2 when it is already final.
 */
export const appendEventsScript = new LuaScript(`${APPEND_ONE}
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return -1 end
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == cur then return -2 end
end
local seq = 0
for i = 2, #ARGV do seq = append(KEYS[1], KEYS[2], ARGV[i], '') end
return seq
`);

/** KEYS: task. ARGV: field/value pairs. Returns 0 when the task does not exist. */
export const updateTaskScript = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
`);

/** KEYS: task. ARGV: updatedAt (JSON), then names of fields to remove. Returns 0 when the task does not exist. */
export const unsetTaskFieldsScript = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], unpack(ARGV, 2))
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[1])
return 1
`);

/**
 * KEYS: idempotency key. ARGV: task id, ttl (s). Binds the key to the id unless it is bound;
 * returns the id bound before, or false when this call bound it. One step, so a key that expires
 * between a check and a set can never be bound twice.
 */
export const claimIdempotencyScript = new LuaScript(`
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
`);
