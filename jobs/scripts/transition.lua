-- transition-6.lua's step as a function, so that claim-move-5.lua runs the same code (one owner).
-- transition(KEYS, ARGV) takes and returns what transition-6.lua's header says.
--@include fence
--@include rollup
local function transition(KEYS, ARGV)
  local job = redis.call('HMGET', KEYS[1], 'state', 'site', 'attempt', 'pilotId', 'leaseToken', 'reportKey', 'reportKeySeal', 'errorCode', 'errorMessage')
  local cur = job[1]
  if not cur then return {0, '', '', '', '', ''} end
  local oldSite = job[2] or ''
  if ARGV[4] ~= '' and not fenced(KEYS[1], ARGV[4], ARGV[5], ARGV[6]) then
    return {-1, cur, job[3] or '', oldSite, oldSite, ''}
  end
  local ok = false
  for s in string.gmatch(ARGV[2], '[^,]+') do if s == cur then ok = true end end
  if not ok then return {0, cur, job[3] or '', oldSite, oldSite, ''} end
  local new = ARGV[1]
  local newSite = oldSite
  local attempt = job[3] or ''
  local fields = {'state', new, 'updatedAt', ARGV[3]}
  local code, msg = nil, nil
  for i = 9, #ARGV, 2 do
    if ARGV[i] == 'site' then newSite = ARGV[i + 1] end
    if ARGV[i] == 'attempt' then attempt = ARGV[i + 1] end
    if ARGV[i] == 'errorCode' then code = ARGV[i + 1] end
    if ARGV[i] == 'errorMessage' then msg = ARGV[i + 1] end
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
  end
  local final = {--@FINAL_SET}
  -- A new attempt ends the old one: its history entry keeps where and by whom it ran, its lease token
  -- (so a record the old pilot sent before it reported stays admissible, see fence-2.lua) and how it
  -- ended: `reported` by its pilot's own update, `lost` when lease expiry requeued it. The failure it
  -- ended with is the one this move reports or, for a job reopened from a final state (an operator's
  -- retry of a failed job), the one its record holds, whoever reopens it: its cause, when its code
  -- only summed the attempts up (E1903 RETRY_MAX_ATTEMPTS, `causeCode`).
  if attempt ~= (job[3] or '') and (job[3] or '') ~= '' then
    local ended = 'lost'
    if ARGV[8] ~= '1' and (ARGV[4] ~= '' or final[cur]) then ended = 'reported' end
    local endCode, endMsg = code, msg
    if final[cur] then
      endCode = endCode or redis.call('HGET', KEYS[1], 'causeCode') or job[8] or nil
      endMsg = endMsg or job[9] or nil
    end
    redis.call('HSET', KEYS[5], job[3], cjson.encode({attempt = tonumber(job[3]), site = oldSite, pilotId = job[4] or '', leaseToken = job[5] or '', reportKey = job[6] or '', reportKeySeal = job[7] or '', state = cur, ended = ended, errorCode = endCode or '', message = endMsg or '', at = tonumber(ARGV[3])}))
  end
  local failedCode = ''
  if cur == 'failed' then failedCode = job[8] or '' end
  -- Reopened, the record's cause stays with the attempt that failed with it (its history entry above).
  if final[cur] then redis.call('HDEL', KEYS[1], 'causeCode') end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('HINCRBY', KEYS[3], cur, -1)
  redis.call('HINCRBY', KEYS[3], new, 1)
  -- The task's error counts are its failed jobs by code: an operator's retry takes the failure back
  -- (the sites' counts stay a history of failures). failedCode was read before the job's fields were written.
  if cur == 'failed' and new ~= 'failed' and failedCode ~= '' then
    if tonumber(redis.call('HGET', KEYS[4], failedCode) or '0') > 0 then redis.call('HINCRBY', KEYS[4], failedCode, -1) end
  end
  local counted = ''
  if new == 'failed' then
    code = code or redis.call('HGET', KEYS[1], 'errorCode')
    if code and code ~= '' then
      redis.call('HINCRBY', KEYS[4], code, 1)
      counted = code
    end
  end
  local out = {1, cur, attempt, oldSite, newSite, counted}
  if ARGV[7] ~= '0' then out[7] = redis.call('HGET', KEYS[1], 'spec') or '' end
  if ARGV[7] == '2' then out[8] = redis.call('GET', KEYS[6]) or '' end
  -- The task's status changes only when a job enters or leaves a final state; the matchmaker's
  -- activated -> sent (the hot path) skips these reads. Same roll-up as lifecycle.ts rollUpTask.
  if not final[new] and not final[cur] then return out end
  rollUp(KEYS[2], KEYS[3], ARGV[3])
  return out
end
