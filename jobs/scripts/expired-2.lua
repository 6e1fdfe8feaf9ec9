-- The leases of one site that ran out, for the lease check to settle. Each is pushed to `recheck`
-- first, so a second checker (or this one's next round) does not settle it at the same time, and a
-- checker that dies mid-way leaves it to be found again. A lease with no token is dropped.
-- KEYS: 1 leases, 2 lease tokens
-- ARGV: 1 now (ms), 2 recheck time (ms), 3 most to return
-- Returns job id / lease token pairs.
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))) do
  local token = redis.call('HGET', KEYS[2], id)
  if token then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = token
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
