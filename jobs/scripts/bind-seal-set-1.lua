-- For a single Redis server only. bind-seal-1.lua, and with it the claim's one other write, its
-- one-time key's record, in the same call: one command a match fewer (a SET of its own cost the
-- matchmaker ~3 KB of heap a match, measured). That record lies in the site's slot, not the job's,
-- so its key comes in ARGV; on a Redis Cluster the two are written apart (bind-seal-1.lua and a SET).
-- KEYS: 1 job hash
-- ARGV: 1 the claim's lease token, 2 the seal, 3 the key to SET, 4 its value, 5 its PX (ms)
-- Returns 1 seal written, 0 not; the SET is made either way, as a write of its own would be.
redis.call('SET', ARGV[3], ARGV[4], 'PX', ARGV[5])
if redis.call('HGET', KEYS[1], 'leaseToken') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'reportKeySeal', ARGV[2])
return 1
