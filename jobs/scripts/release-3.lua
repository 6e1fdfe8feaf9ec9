-- Ends a lease if it is still the one named (the job finished, failed, was retried elsewhere, or
-- must not run). One site shard.
-- KEYS: 1 leases, 2 lease tokens, 3 site state counts
-- ARGV: 1 job id, 2 lease token, 3 '1' to undo the claim's state counts (its record never moved)
-- Returns 1 ended, 0 not held by that token.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[3], 'sent', -1)
  redis.call('HINCRBY', KEYS[3], 'activated', 1)
end
return 1
