-- Puts jobs of one autocluster on their site's ready set (FIFO), records the autocluster in the
-- site's index and marks it non-empty, in one step of one site shard. A job already waiting or held
-- under a lease at this site is not queued twice.
-- KEYS: 1 the autocluster's ready set, 2 non-empty autoclusters, 3 site counters (waiting, seq),
--       4 lease tokens, 5 the site's autocluster index (id -> AutoclusterKey JSON)
-- ARGV: 1 autocluster id, 2 its key as JSON, then job ids
-- Returns how many were added.
local ids = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HEXISTS', KEYS[4], id) == 0 and not redis.call('ZSCORE', KEYS[1], id) then ids[#ids + 1] = id end
end
if #ids == 0 then return 0 end
local last = redis.call('HINCRBY', KEYS[3], 'seq', #ids)
for i, id in ipairs(ids) do redis.call('ZADD', KEYS[1], last - #ids + i, id) end
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'waiting', #ids)
return #ids
