-- Takes or keeps the right to run one site's lease and holding checks for a while: one matchmaker
-- per site shard at a time, another takes over when the holder stops renewing.
-- KEYS: 1 the site's checker key
-- ARGV: 1 this checker's id, 2 how long (ms)
-- Returns 1 held by this checker, 0 by another.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
