-- One job's state change, with the task's and the site's state counters, the error counters, the
-- holding index and the task's rolled-up status, in one atomic step: two clients racing on one job
-- can never double-count, and a claim's one-time key and waiting counter (the side writes) exist
-- exactly when the move happened.
-- KEYS: 1 job hash, 2 task hash, 3 task state counts, 4 task error counts, 5 namespace error counts,
--       6 holding index (zset: job id -> when its payload ended), 7 the job's attempt history
--       (attempt -> JSON), then the side writes' keys
-- ARGV: 1 new state, 2 comma list of allowed current states, 3 site-counts key prefix, 4 now,
--       5 fence attempt ('' = the caller is not a pilot's update), 6 fence lease token, 7 fence
--       pilot id ('' = any), 8 stale-update error code, 9 number of SETs, 10 number of HINCRBYs,
--       their arguments,
--       then field/value pairs to set on the job
-- Returns {moved, state before, attempt after, spec (claims only)}: moved 1 yes, 0 not allowed from that state or no
-- such job, -1 refused as stale (counted).
--@include fence
local job = redis.call('HMGET', KEYS[1], 'state', 'site', 'attempt', 'jobId', 'pilotId', 'leaseToken')
local cur = job[1]
if not cur then return {0, '', ''} end
if ARGV[5] ~= '' and not fenced(KEYS[1], ARGV[5], ARGV[6], ARGV[7], KEYS[5], ARGV[8]) then
  return {-1, cur, job[3] or ''}
end
local ok = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == cur then ok = true end end
if not ok then return {0, cur, job[3] or ''} end
local new = ARGV[1]
local oldSite = job[2] or ''
local newSite = oldSite
local attempt = job[3] or ''
local fields = {'state', new, 'updatedAt', ARGV[4]}
local nset, nincr = tonumber(ARGV[9]), tonumber(ARGV[10])
local a, k = 11, 8
for _ = 1, nset do
  redis.call('SET', KEYS[k], ARGV[a], 'PX', ARGV[a + 1])
  k, a = k + 1, a + 2
end
for _ = 1, nincr do
  redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
  k, a = k + 1, a + 2
end
for i = a, #ARGV, 2 do
  if ARGV[i] == 'site' then newSite = ARGV[i + 1] end
  if ARGV[i] == 'attempt' then attempt = ARGV[i + 1] end
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
end
local final = {--@FINAL_SET}
-- A new attempt ends the old one: its history entry keeps where and by whom it ran, its lease token
-- (so a record the old pilot sent before it reported stays admissible, see fence-3.lua) and how it
-- ended: `reported` by its pilot's own update, `lost` when lease expiry requeued it.
if attempt ~= (job[3] or '') and (job[3] or '') ~= '' then
  local code, msg = '', ''
  for i = a, #ARGV, 2 do
    if ARGV[i] == 'errorCode' then code = ARGV[i + 1] end
    if ARGV[i] == 'errorMessage' then msg = ARGV[i + 1] end
  end
  local ended = 'lost'
  if ARGV[5] ~= '' or final[cur] then ended = 'reported' end
  redis.call('HSET', KEYS[7], job[3], cjson.encode({attempt = tonumber(job[3]), site = oldSite, pilotId = job[5] or '', leaseToken = job[6] or '', state = cur, ended = ended, errorCode = code, message = msg, at = tonumber(ARGV[4])}))
end
local failedCode = ''
if cur == 'failed' then failedCode = redis.call('HGET', KEYS[1], 'errorCode') or '' end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HINCRBY', KEYS[3], cur, -1)
redis.call('HINCRBY', KEYS[3], new, 1)
if oldSite ~= '' then redis.call('HINCRBY', ARGV[3] .. oldSite .. ':states', cur, -1) end
if newSite ~= '' then redis.call('HINCRBY', ARGV[3] .. newSite .. ':states', new, 1) end
-- The holding index: jobs whose payload ended and whose report is in flight, by when that began;
-- the holding-timeout sweep reads it, lease expiry never requeues what it holds.
local reporting = {--@REPORTING_SET}
if reporting[new] and not reporting[cur] then redis.call('ZADD', KEYS[6], ARGV[4], job[4]) end
if reporting[cur] and not reporting[new] then redis.call('ZREM', KEYS[6], job[4]) end
if final[new] then
  local code = redis.call('HGET', KEYS[1], 'errorCode')
  if new == 'failed' and code and code ~= '' then
    redis.call('HINCRBY', KEYS[4], code, 1)
    redis.call('HINCRBY', KEYS[5], code, 1)
  end
end
-- The task's error counts are its failed jobs by code: an operator's retry takes the failure back
-- (the namespace's counts stay a history of failures). failedCode was read before the job's fields were written.
if cur == 'failed' and new ~= 'failed' and failedCode ~= '' then
  if tonumber(redis.call('HGET', KEYS[4], failedCode) or '0') > 0 then redis.call('HINCRBY', KEYS[4], failedCode, -1) end
end
-- A claim (-> sent) gets the job's spec back from the record: the queue entry holds no copy of it.
local out = {1, cur, attempt}
if new == 'sent' then out[4] = redis.call('HGET', KEYS[1], 'spec') end
-- The task's status changes only when a job enters or leaves a final state; the matchmaker's
-- activated -> sent (the hot path) skips these reads. Same roll-up as lifecycle.ts rollUpTask.
if not final[new] and not final[cur] then return out end
local t = redis.call('HMGET', KEYS[2], 'njobs', 'status')
local njobs = tonumber(t[1] or '0')
local status = t[2]
if status == 'aborted' then return out end
local finalList = {--@FINAL_LIST}
local c = redis.call('HMGET', KEYS[3], unpack(finalList))
local counts = {}
local total = 0
for i, s in ipairs(finalList) do
  counts[s] = tonumber(c[i] or '0') or 0
  total = total + counts[s]
end
local outcome = 'active'
if njobs > 0 and total >= njobs then
  if counts['finished'] == njobs then outcome = 'done'
  elseif counts['finished'] > 0 then outcome = 'partial'
  elseif counts['failed'] > 0 then outcome = 'broken'
  else outcome = 'aborted' end
end
if outcome ~= status then redis.call('HSET', KEYS[2], 'status', outcome, 'updatedAt', ARGV[4]) end
return out
