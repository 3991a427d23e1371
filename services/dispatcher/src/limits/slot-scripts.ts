import { LuaScript, SLOT_LEDGER_LUA } from '@agentq/shared';

/*
 * The dispatcher's scripts on the slot ledger (layout and shared functions in
 * `@agentq/shared`'s `slot-ledger-lua.ts`). KEYS: the six declared ledger keys; ARGV[1]: the
 * ledger's key prefix. Every script that can free a slot hands free slots out to waiting tasks in
 * the same step and returns their ids after its own result: their jobs are to be promoted.
 */

/**
 * ARGV: prefix, limits, task id, team, repo, order score, owner, lease ms, reservation ms, mode.
 * Checks the three caps and takes a slot for the task, in one step. A slot the task holds already
 * (taken by an earlier run, or set aside for it) is kept, whatever the mode. Modes for a task
 * without one: `wait` puts the task in line and takes a slot if one is free for it in the
 * hand-out order; `keep` takes none; `force` takes one whatever the caps (a sandbox that runs
 * without a slot is counted: the ledger must never count fewer sandboxes than there are).
 * Returns {1, 'kept'|'new'|'forced', handed...} or {0, reason, position, handed...} ({0, 'none', 0}
 * for `keep`).
 */
export const acquireSlotScript = new LuaScript(`${SLOT_LEDGER_LUA}
local L = cjson.decode(ARGV[2])
redis.call('SET', LIMITS, ARGV[2])
local id, team, repo, owner, mode = ARGV[3], ARGV[4], ARGV[5], ARGV[7], ARGV[10]
local now = nowMs()
local leaseUntil = now + tonumber(ARGV[8])
local raw = redis.call('HGET', HELD, id)
if raw then
  local h = cjson.decode(raw)
  h.s = 'h'
  h.o = owner
  redis.call('HSET', HELD, id, cjson.encode(h))
  redis.call('ZADD', LEASE, leaseUntil, id)
  removeWaiting(id)
  return {1, 'kept'}
end
if mode == 'keep' then return {0, 'none', 0} end
if mode == 'force' then
  removeWaiting(id)
  takeSlot(id, team, repo, 'h', owner, leaseUntil)
  return {1, 'forced'}
end
if redis.call('HEXISTS', WAIT, id) == 0 then addWaiting(id, team, repo, ARGV[6], now) end
local handed = handOut(L, now + tonumber(ARGV[9]))
local others, got = {}, false
for _, h in ipairs(handed) do
  if h == id then got = true else others[#others + 1] = h end
end
if got then
  redis.call('HSET', HELD, id, cjson.encode({s = 'h', t = team, r = repo, o = owner}))
  redis.call('ZADD', LEASE, leaseUntil, id)
  return {1, 'new', unpack(others)}
end
local reason, position = positionOf(L, id)
return {0, reason or 'global', position or 1, unpack(others)}
`);

/** ARGV: prefix, limits, task id, reservation ms. Frees the task's slot; {1, handed...}, or {0} when it held none. */
export const releaseSlotScript = new LuaScript(`${SLOT_LEDGER_LUA}
local L = cjson.decode(ARGV[2])
redis.call('SET', LIMITS, ARGV[2])
if not freeSlot(ARGV[3]) then return {0} end
return {1, unpack(handOut(L, nowMs() + tonumber(ARGV[4])))}
`);

/**
 * ARGV: prefix, limits, task id, reservation ms, state (`h` or `r`). Frees the slot only if its
 * lease has run out and it is still in that state (a renewal or a start in between wins).
 */
export const reclaimSlotScript = new LuaScript(`${SLOT_LEDGER_LUA}
local L = cjson.decode(ARGV[2])
redis.call('SET', LIMITS, ARGV[2])
local expiry = redis.call('ZSCORE', LEASE, ARGV[3])
if not expiry or tonumber(expiry) > nowMs() then return {0} end
local raw = redis.call('HGET', HELD, ARGV[3])
if not raw or cjson.decode(raw).s ~= ARGV[5] then return {0} end
freeSlot(ARGV[3])
return {1, unpack(handOut(L, nowMs() + tonumber(ARGV[4])))}
`);

/**
 * ARGV: prefix, limits, task id, reservation ms. The task will not start (it is final or gone):
 * takes it out of line and frees a slot set aside for it. A slot it took stays: that one is freed
 * only once its sandbox is known to be gone.
 */
export const forgetTaskScript = new LuaScript(`${SLOT_LEDGER_LUA}
local L = cjson.decode(ARGV[2])
redis.call('SET', LIMITS, ARGV[2])
removeWaiting(ARGV[3])
redis.call('HDEL', S .. ':pred', ARGV[3])
local raw = redis.call('HGET', HELD, ARGV[3])
if raw and cjson.decode(raw).s == 'r' then
  freeSlot(ARGV[3])
  return {1, unpack(handOut(L, nowMs() + tonumber(ARGV[4])))}
end
return {0}
`);

/** ARGV: prefix, lease ms, task ids. Renews the leases of the slots held; returns the ids that hold none. */
export const renewSlotsScript = new LuaScript(`${SLOT_LEDGER_LUA}
local expiry = nowMs() + tonumber(ARGV[2])
local lost = {}
for i = 3, #ARGV do
  if redis.call('HEXISTS', HELD, ARGV[i]) == 1 then
    redis.call('ZADD', LEASE, expiry, ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
`);

/** ARGV: prefix, most. Slots whose lease has run out, oldest first: {id, state, ...}. */
export const lapsedSlotsScript = new LuaScript(`${SLOT_LEDGER_LUA}
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', LEASE, '-inf', nowMs(), 'LIMIT', 0, tonumber(ARGV[2]))) do
  local raw = redis.call('HGET', HELD, id)
  if raw then
    out[#out + 1] = id
    out[#out + 1] = cjson.decode(raw).s
  else
    redis.call('ZREM', LEASE, id)
  end
end
return out
`);
