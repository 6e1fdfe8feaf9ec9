-- Included by the scripts that change a task's job counts or its openness (transition-6, grow-5).
-- rollUp(taskKey, statesKey, now): the task's status from its final-state counts, written when it
-- changes. Same roll-up as lifecycle.ts rollUpTask: `aborted` is sticky, an open task (it may still
-- get jobs) stays `active`, a task with no job keeps the status it was given.
local function rollUp(taskKey, statesKey, now)
  local t = redis.call('HMGET', taskKey, 'njobs', 'status', 'open')
  local njobs = tonumber(t[1] or '0')
  local status = t[2]
  if status == 'aborted' then return status end
  local outcome = 'active'
  if t[3] ~= '1' then
    if njobs == 0 then return status end
    local finalList = {--@FINAL_LIST}
    local c = redis.call('HMGET', statesKey, unpack(finalList))
    local counts = {}
    local total = 0
    for i, s in ipairs(finalList) do
      counts[s] = tonumber(c[i] or '0') or 0
      total = total + counts[s]
    end
    if total >= njobs then
      if counts['finished'] == njobs then outcome = 'done'
      elseif counts['finished'] > 0 then outcome = 'partial'
      elseif counts['failed'] > 0 then outcome = 'broken'
      else outcome = 'aborted' end
    end
  end
  if outcome ~= status then redis.call('HSET', taskKey, 'status', outcome, 'updatedAt', now) end
  return outcome
end
