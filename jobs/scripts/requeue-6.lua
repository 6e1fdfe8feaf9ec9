-- Puts a leased job back at the head of its ready set, if the lease is still the one named: a
-- claim given back, a lost pilot's job (its record already moved to a new attempt) or a claim whose
-- record never moved. One site shard.
-- KEYS: 1 the autocluster's ready set, 2 non-empty autoclusters, 3 site counters (waiting, seq),
--       4 leases, 5 lease tokens, 6 site state counts
-- ARGV: 1 job id, 2 lease token, 3 autocluster id, 4 '1' to undo the claim's state counts (the
--       record never left activated), '0' when the record's own move counted it
-- Returns 1 requeued, 0 the lease is not that token's (already handled).
if redis.call('HGET', KEYS[5], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
-- Score 0: before every entry queued the ordinary way (their scores start at 1).
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('HINCRBY', KEYS[3], 'waiting', 1)
if ARGV[4] == '1' then
  redis.call('HINCRBY', KEYS[6], 'sent', -1)
  redis.call('HINCRBY', KEYS[6], 'activated', 1)
end
return 1
