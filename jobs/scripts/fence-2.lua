-- Checks an update's fence without moving the job: heartbeats, accounting records and key renewals.
-- KEYS: 1 job hash, 2 the namespace's error counts
-- ARGV: 1 attempt, 2 lease token, 3 the stale-update error code
-- Returns {verdict, state}: verdict 1 current, -1 stale (counted), 0 no such job.
--@include fence
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {0, ''} end
if not fenced(KEYS[1], ARGV[1], ARGV[2], KEYS[2], ARGV[3]) then return {-1, state} end
return {1, state}
