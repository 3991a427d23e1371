import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.js';
import { LuaScript } from '../redis/lua-script.js';
import { SLOT_LEDGER_LUA, slotScriptKeys } from './slot-ledger-lua.js';

/** The slot ledger at one instant. */
export interface SlotSnapshot {
  /** Slots held in the whole pool (those set aside for a task about to start included). */
  held: number;
  /** Slots held by team. */
  teams: Record<string, number>;
  /** The tasks holding them, with their teams. */
  holders: Record<string, string>;
  /**
   * Waiting tasks by team and reason: `global`, `team`, `repo` (as of now, under the limits the
   * dispatchers last ran with) and `predecessor`.
   */
  waiting: Record<string, Record<string, number>>;
}

/** ARGV: prefix. Read-only: the snapshot as JSON, read in one step. */
const snapshotScript = new LuaScript(`${SLOT_LEDGER_LUA}
local L = storedLimits()
local teams, waiting, holders = {}, {}, {}
local held = redis.call('HGETALL', HELD)
for i = 1, #held, 2 do holders[held[i]] = cjson.decode(held[i + 1]).t end
local counts = redis.call('HGETALL', COUNT)
for i = 1, #counts, 2 do
  if string.sub(counts[i], 1, 2) == 't:' then teams[string.sub(counts[i], 3)] = tonumber(counts[i + 1]) end
end
local function add(team, reason, n)
  waiting[team] = waiting[team] or {}
  waiting[team][reason] = (waiting[team][reason] or 0) + n
end
local prs = redis.call('HGETALL', PAIRS)
for i = 1, #prs, 2 do
  local u, r = splitPair(prs[i])
  add(u, reasonOf(L, u, r) or 'global', tonumber(prs[i + 1]))
end
local pred = redis.call('HGETALL', S .. ':pred')
for i = 1, #pred, 2 do add(pred[i + 1], 'predecessor', 1) end
return cjson.encode({held = cnt('*'), teams = teams, holders = holders, waiting = waiting})
`);

/** An object decoded from Lua, where an empty table may come as `[]`. */
function record<T>(v: unknown): Record<string, T> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, T>) : {};
}

/** Reads how many slots are held, and who waits for what, in one step. */
export async function readSlotSnapshot(redis: Redis, keys: RedisKeys): Promise<SlotSnapshot> {
  const json = (await snapshotScript.run(redis, slotScriptKeys(keys), [keys.slots])) as string;
  const parsed = JSON.parse(json) as Partial<SlotSnapshot>;
  return {
    held: parsed.held ?? 0,
    teams: record<number>(parsed.teams),
    holders: record<string>(parsed.holders),
    waiting: record<Record<string, number>>(parsed.waiting),
  };
}
