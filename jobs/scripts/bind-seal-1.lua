-- The report key's seal of a claim made by claim-move-5.lua, written into the job record once the
-- claim stands (the seal covers the job id, which only the claim's step knew), and only while the
-- record still holds that claim's lease token: a record moved on, or gone, is left as it is.
-- KEYS: 1 job hash
-- ARGV: 1 the claim's lease token, 2 the seal
-- Returns 1 written, 0 not.
if redis.call('HGET', KEYS[1], 'leaseToken') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'reportKeySeal', ARGV[2])
return 1
