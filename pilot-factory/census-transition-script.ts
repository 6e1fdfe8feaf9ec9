// Lua, because a census update reads the pilot's current state and moves it between the state
// sets and counters: done as separate calls, a late or duplicate message racing the reaper could
// count one pilot's exit twice or leave it in two sets.
//
// KEYS: 1 pilot hash, 2 pending set, 3 idle set, 4 running set, 5 alive zset, 6 counts hash,
//       7 heard zset (pilots not exited, scored by their last census)
// ARGV: 1 pilotId, 2 new state (idle|running|exited), 3 jobs run (done + failed), 4 empty adverts,
//       5 now ms, 6 cause (census|lost), 7 seconds to keep an exited pilot's record, 8 reports the
//       pilot holds in memory (census heldReports)
// Returns the previous state, "unknown" (not our pilot) or "late" (already exited).
// Counters `appeared` (first census of a pending pilot) and `missedPending` (a pending pilot given
// up as lost) feed the queue's circuit breaker.
export const CENSUS_TRANSITION_LUA = `
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return 'unknown' end
if cur == 'exited' then return 'late' end
local id = ARGV[1]
local ns = ARGV[2]
if cur == 'pending' then
  if ARGV[6] == 'census' then
    redis.call('HINCRBY', KEYS[6], 'appeared', 1)
  else
    redis.call('HINCRBY', KEYS[6], 'missedPending', 1)
  end
end
redis.call('SREM', KEYS[2], id)
redis.call('SREM', KEYS[3], id)
redis.call('SREM', KEYS[4], id)
if ns == 'exited' then
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZREM', KEYS[7], id)
  redis.call('HINCRBY', KEYS[6], 'exited', 1)
  if ARGV[6] == 'lost' then
    redis.call('HINCRBY', KEYS[6], 'lost', 1)
  elseif tonumber(ARGV[3]) == 0 then
    redis.call('HINCRBY', KEYS[6], 'empty', 1)
  end
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[7]))
else
  redis.call('ZADD', KEYS[7], ARGV[5], id)
  if ns == 'idle' then
    redis.call('SADD', KEYS[3], id)
  else
    redis.call('SADD', KEYS[4], id)
  end
end
redis.call('HSET', KEYS[1], 'state', ns, 'jobs', ARGV[3], 'emptyAdverts', ARGV[4], 'updatedAt', ARGV[5], 'cause', ARGV[6], 'heldReports', ARGV[8])
return cur
`;
