-- Takes or keeps the right to run one site's lease and holding checks for a while (one matchmaker
-- per site shard at a time, another takes over when the holder stops renewing), as lead-1.lua does
-- for other leads; and a lease counts a pilot's silence only while some checker was there. When the
-- right was vacant (every matchmaker killed, or restarted; a checker that stalled; Redis away), no
-- heartbeat may have been heard either, and a lease that ran out meanwhile says nothing about its
-- pilot: the gap since a checker last held the right is added to every lease, so each pilot gets
-- its whole lease again from now. Kept, the right shifts nothing.
-- KEYS: 1 the site's checker key, 2 its leases (job id scored by expiry), 3 when a checker last held the right
-- ARGV: 1 this checker's id, 2 how long (ms), 3 now (ms)
-- Returns 1 held by this checker, 0 by another.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif holder or not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
else
  local last = tonumber(redis.call('GET', KEYS[3]))
  local gap = last and (tonumber(ARGV[3]) - last) or 0
  if gap > 0 then
    local leases = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    for i = 1, #leases, 2 do
      redis.call('ZADD', KEYS[2], tonumber(leases[i + 1]) + gap, leases[i])
    end
  end
end
redis.call('SET', KEYS[3], ARGV[3])
return 1
