-- Takes a waiting job off its ready set (cancelled while queued, or an entry that must not run).
-- KEYS: 1 the autocluster's ready set, 2 non-empty autoclusters, 3 site counters
-- ARGV: 1 job id, 2 autocluster id
-- Returns 1 removed, 0 it was not waiting there (claimed meanwhile, or never queued).
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[3], 'waiting', -1)
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return 1
