-- Renews many leases of one site at once (a pilot's batched heartbeat), each only if its token
-- still holds the job. One site shard.
-- KEYS: 1 leases, 2 lease tokens
-- ARGV: 1 new deadline (ms), then job id / lease token pairs
-- Returns one 1 (renewed) or 0 (not held by that token) per pair.
local out = {}
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
