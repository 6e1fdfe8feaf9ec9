-- Checks an update's fence without moving the job: heartbeats, accounting records, key renewals.
-- One task shard: KEYS 1 job hash, 2 the job's attempt history.
-- ARGV: 1 attempt, 2 lease token, 3 pilot id ('' = any), 4 '1' to also admit an ended attempt that
--       its own pilot reported (an accounting record may arrive after the failure report that
--       retried its job), '0' for the current attempt only
--       5 '1' to also return the record's own spec fields (an accounting record is checked against
--       the job's owner and walltime in the same read as its fence), '0' not
-- Returns {verdict, state, site, report key, its seal, spec}: verdict 1 current, 2 an ended attempt
-- admitted, -1 stale (the caller counts it at the site), 0 no such job; the site the admitted attempt
-- ran at (the record's for a stale update); the report key bound to the admitted attempt ('' when
-- none), which its reports must be signed with, and the matchmaker's seal over it; the record's spec
-- JSON when asked (its task's template holds the rest).
--@include fence
local job = redis.call('HMGET', KEYS[1], 'state', 'site', 'attempt')
local state = job[1]
if not state then return {0, '', ''} end
local site = job[2] or ''
local function spec()
  if ARGV[5] ~= '1' then return '' end
  return redis.call('HGET', KEYS[1], 'spec') or ''
end
if ARGV[4] == '1' and job[3] ~= ARGV[1] then
  local past = redis.call('HGET', KEYS[2], ARGV[1])
  if past then
    local p = cjson.decode(past)
    if p.ended == 'reported' and ARGV[2] ~= '' and p.leaseToken == ARGV[2] and (ARGV[3] == '' or p.pilotId == ARGV[3]) then return {2, state, p.site or '', p.reportKey or '', p.reportKeySeal or '', spec()} end
  end
end
if not fenced(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return {-1, state, site} end
local bound = redis.call('HMGET', KEYS[1], 'reportKey', 'reportKeySeal')
return {1, state, site, bound[1] or '', bound[2] or '', spec()}
