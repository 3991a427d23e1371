import type { RedisKeys } from '../redis/keys.js';
import type { TaskPriority } from '../tasks/task-request.js';

/*
 * The concurrency slot ledger in Redis. Every key is under `keys.slots` (`<prefix>:{slots}`, one
 * hash tag, so the scripts that touch several of them work on Redis Cluster):
 *
 *   :held                hash    task id → {s: 'h' (taken) | 'r' (set aside for a waiting task), t: team, r: repo, o: owner}
 *   :count               hash    `*` → slots held in all; `t:<team>`, `r:<repo>` → by team, by repository
 *   :lease               zset    task id → when the slot's lease runs out (ms, Redis's clock)
 *   :wait                hash    task id → {t: team, r: repo, c: order score, s: since (ms)} of a task waiting for a slot
 *   :team:<team>         zset    the team's waiting tasks by order score
 *   :pair:<team>:<repo>  zset    the team's waiting tasks on one repository, by order score
 *   :pairs               hash    `<team>:<repo>` → how many of the team's tasks wait on the repository
 *   :limits              string  the limits the last writing script ran with (JSON), for readers
 *   :pred                hash    task id → team, of tasks waiting for another task to end (metrics)
 *   :reclaim-lock        string  held by the dispatcher that looks for lapsed leases in this interval
 *
 * Teams (`[A-Za-z0-9_.-]`) and repositories (`owner/name`) hold no `:`, so a pair splits at its
 * first one. The per-team and per-pair keys are built inside the scripts from the prefix (ARGV[1]);
 * they share the hash tag of the declared keys.
 */

/** The keys every slot script declares, in this order (KEYS[1..6]). */
export function slotScriptKeys(keys: RedisKeys): string[] {
  const s = keys.slots;
  return [`${s}:held`, `${s}:count`, `${s}:lease`, `${s}:wait`, `${s}:pairs`, `${s}:limits`];
}

/** Keys of the slot ledger that are not script-declared. */
export const slotKeys = {
  pred: (keys: RedisKeys) => `${keys.slots}:pred`,
  reclaimLock: (keys: RedisKeys) => `${keys.slots}:reclaim-lock`,
};

/** Priority ranks: a lower order score starts first. */
const PRIORITY_RANK: Record<TaskPriority, number> = { high: 0, normal: 1, low: 2 };

/**
 * Where a waiting task stands within its team: priority first (`high`, `normal`, `low`), then the
 * oldest; an exact integer (priority × 10^13 + creation time in ms).
 */
export function slotOrderScore(priority: TaskPriority | undefined, createdAt: string): string {
  const created = Date.parse(createdAt);
  return String(PRIORITY_RANK[priority ?? 'normal'] * 1e13 + (Number.isFinite(created) ? created : 0));
}

/**
 * Functions every slot script starts with. Limits (`L`) are `{g, t: {team: n}, d, r}` with -1 for
 * no cap (see `encodeSlotLimits`). Reasons: a team at its cap waits for `team`; else a repository
 * at its cap, `repo`; else a full pool, `global`.
 *
 * The hand-out order (`pickNext`): among the teams with a waiting task whose team and repository
 * caps allow it to start, the team holding the fewest slots (ties: the lower team name), and
 * within it the task with the lowest order score (ties: the lower task id).
 *
 * `positionOf` projects that order onto the waiting tasks of one reason: a team's k-th task in
 * line (by order score) comes at turn `held(team) + k`; a task's position is 1 + the number of
 * tasks waiting for the same reason (and, for `team` and `repo`, on the same team or repository)
 * whose turn comes first, ties going to the lower team name.
 */
export const SLOT_LEDGER_LUA = `
local HELD, COUNT, LEASE, WAIT, PAIRS, LIMITS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local S = ARGV[1]
local function teamKey(team) return S .. ':team:' .. team end
local function pairKey(pair) return S .. ':pair:' .. pair end
local function splitPair(pair)
  local i = string.find(pair, ':', 1, true)
  return string.sub(pair, 1, i - 1), string.sub(pair, i + 1)
end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function cnt(field) return tonumber(redis.call('HGET', COUNT, field) or '0') end
local function cap(v) if type(v) == 'number' and v >= 0 then return v end return nil end
local function teamCap(L, team)
  local v = nil
  if type(L.t) == 'table' then v = L.t[team] end
  if v == nil then v = L.d end
  return cap(v)
end
local function atCap(c, n) return c ~= nil and n >= c end
local function teamFull(L, team) return atCap(teamCap(L, team), cnt('t:' .. team)) end
local function repoFull(L, repo) return atCap(cap(L.r), cnt('r:' .. repo)) end
local function globalFull(L) return atCap(cap(L.g), cnt('*')) end
local function reasonOf(L, team, repo)
  if teamFull(L, team) then return 'team' end
  if repoFull(L, repo) then return 'repo' end
  if globalFull(L) then return 'global' end
  return nil
end
local function storedLimits()
  local raw = redis.call('GET', LIMITS)
  if not raw then return {} end
  return cjson.decode(raw)
end
-- members of a zset ordered before (score, id)
local function ahead(key, score, id)
  local n = redis.call('ZCOUNT', key, '-inf', '(' .. score)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, score, score)) do
    if m < id then n = n + 1 end
  end
  return n
end
local function positionOf(L, id)
  local raw = redis.call('HGET', WAIT, id)
  if not raw then return nil, nil end
  local w = cjson.decode(raw)
  local reason = reasonOf(L, w.t, w.r)
  if not reason then return nil, nil end
  if reason == 'team' then return reason, redis.call('ZRANK', teamKey(w.t), id) + 1 end
  local sizes = {}
  local rank = 0
  local prs = redis.call('HGETALL', PAIRS)
  for i = 1, #prs, 2 do
    local u, r = splitPair(prs[i])
    local inLine
    if reason == 'repo' then
      inLine = r == w.r and not teamFull(L, u)
    else
      inLine = not teamFull(L, u) and not repoFull(L, r)
    end
    if inLine then
      if u == w.t then
        rank = rank + ahead(pairKey(prs[i]), w.c, id)
      else
        sizes[u] = (sizes[u] or 0) + redis.call('ZCARD', pairKey(prs[i]))
      end
    end
  end
  local turn = cnt('t:' .. w.t) + rank + 1
  local position = rank + 1
  for u, n in pairs(sizes) do
    local before = turn - cnt('t:' .. u) - 1
    if u < w.t then before = before + 1 end
    if before > n then before = n end
    if before > 0 then position = position + before end
  end
  return reason, position
end
local function addWaiting(id, team, repo, score, since)
  redis.call('HSET', WAIT, id, cjson.encode({t = team, r = repo, c = score, s = since}))
  local pair = team .. ':' .. repo
  redis.call('ZADD', teamKey(team), score, id)
  redis.call('ZADD', pairKey(pair), score, id)
  redis.call('HINCRBY', PAIRS, pair, 1)
end
local function removeWaiting(id)
  local raw = redis.call('HGET', WAIT, id)
  if not raw then return nil end
  local w = cjson.decode(raw)
  local pair = w.t .. ':' .. w.r
  redis.call('HDEL', WAIT, id)
  redis.call('ZREM', teamKey(w.t), id)
  redis.call('ZREM', pairKey(pair), id)
  if redis.call('HINCRBY', PAIRS, pair, -1) <= 0 then redis.call('HDEL', PAIRS, pair) end
  return w
end
local function decr(field)
  if redis.call('HINCRBY', COUNT, field, -1) <= 0 then redis.call('HDEL', COUNT, field) end
end
local function takeSlot(id, team, repo, state, owner, untilMs)
  redis.call('HSET', HELD, id, cjson.encode({s = state, t = team, r = repo, o = owner}))
  redis.call('HINCRBY', COUNT, '*', 1)
  redis.call('HINCRBY', COUNT, 't:' .. team, 1)
  redis.call('HINCRBY', COUNT, 'r:' .. repo, 1)
  redis.call('ZADD', LEASE, untilMs, id)
end
local function freeSlot(id)
  local raw = redis.call('HGET', HELD, id)
  if not raw then return false end
  local h = cjson.decode(raw)
  redis.call('HDEL', HELD, id)
  redis.call('ZREM', LEASE, id)
  decr('*')
  decr('t:' .. h.t)
  decr('r:' .. h.r)
  return true
end
local function pickNext(L)
  if globalFull(L) then return nil end
  local heads = {}
  local prs = redis.call('HGETALL', PAIRS)
  for i = 1, #prs, 2 do
    local u, r = splitPair(prs[i])
    if not teamFull(L, u) and not repoFull(L, r) then
      local head = redis.call('ZRANGE', pairKey(prs[i]), 0, 0, 'WITHSCORES')
      if head[1] then
        local score = tonumber(head[2])
        local cur = heads[u]
        if not cur or score < cur.score or (score == cur.score and head[1] < cur.id) then
          heads[u] = {id = head[1], score = score}
        end
      end
    end
  end
  local best, bestTeam, bestHeld = nil, nil, nil
  for u, head in pairs(heads) do
    local held = cnt('t:' .. u)
    if best == nil or held < bestHeld or (held == bestHeld and u < bestTeam) then
      best, bestTeam, bestHeld = head.id, u, held
    end
  end
  return best
end
-- sets free slots aside for waiting tasks, in hand-out order; returns their ids
local function handOut(L, untilMs)
  local out = {}
  while true do
    local id = pickNext(L)
    if not id then break end
    local w = removeWaiting(id)
    takeSlot(id, w.t, w.r, 'r', '', untilMs)
    out[#out + 1] = id
  end
  return out
end
`;
