/*
 * Scripts on the relay's task list (one stream key, so they run on Redis Cluster too). An entry is
 * owned by the consumer in whose pending list it is; both scripts act only on the caller's own
 * entries, so a relay that was too slow and lost an entry never takes it back.
 */

const OWNER = `
local function owner(key, group, id)
  local pending = redis.pcall('XPENDING', key, group, id, id, 1)
  if type(pending) ~= 'table' or pending.err or not pending[1] then return false end
  return pending[1][2]
end
`;

/**
 * KEYS: task list. ARGV: group, consumer, entry ids. Resets the idle time of the entries the
 * consumer still owns (XCLAIM to itself, JUSTID) and returns their ids.
 */
export const REFRESH_CLAIMS = `${OWNER}
local alive = {}
for i = 3, #ARGV do
  if owner(KEYS[1], ARGV[1], ARGV[i]) == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    alive[#alive + 1] = ARGV[i]
  end
end
return alive
`;

/**
 * KEYS: task list. ARGV: group, consumer, task id, entry ids. Acknowledges and deletes the
 * consumer's own entries of the task and, if there were any, adds a fresh entry for it, which the next relay to
 * read the list picks up at once. Returns the number of entries handed over.
 */
export const HAND_OVER_TASK = `${OWNER}
local count = 0
for i = 4, #ARGV do
  if owner(KEYS[1], ARGV[1], ARGV[i]) == ARGV[2] then
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
    count = count + 1
  end
end
if count > 0 then redis.call('XADD', KEYS[1], '*', 'taskId', ARGV[3]) end
return count
`;
