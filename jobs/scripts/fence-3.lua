-- Checks an update's fence without moving the job: heartbeats, accounting records, key renewals.
-- KEYS: 1 job hash, 2 the namespace's error counts, 3 the job's attempt history
-- ARGV: 1 attempt, 2 lease token, 3 pilot id ('' = any), 4 the stale-update error code,
--       5 '1' to also admit an ended attempt that its own pilot reported (an accounting record may
--       arrive after the failure report that retried its job), '0' for the current attempt only
-- Returns {verdict, state}: verdict 1 current, 2 an ended attempt admitted, -1 stale (counted),
-- 0 no such job.
--@include fence
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {0, ''} end
local held = redis.call('HMGET', KEYS[1], 'attempt', 'leaseToken', 'pilotId')
if ARGV[5] == '1' and held[1] ~= ARGV[1] then
  local past = redis.call('HGET', KEYS[3], ARGV[1])
  if past then
    local p = cjson.decode(past)
    if p.ended == 'reported' and ARGV[2] ~= '' and p.leaseToken == ARGV[2] and (ARGV[3] == '' or p.pilotId == ARGV[3]) then return {2, state} end
  end
end
if not fenced(KEYS[1], ARGV[1], ARGV[2], ARGV[3], KEYS[2], ARGV[4]) then return {-1, state} end
return {1, state}
