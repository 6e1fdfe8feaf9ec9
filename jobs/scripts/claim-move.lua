-- claim-move-5.lua's step as a function, so that use-claim-move-6.lua runs the same code (one
-- owner). claim_move(KEYS, ARGV) takes and returns what claim-move-5.lua's header says; like it, it
-- builds the record's keys from templates and is for a single Redis server only.
--@include claim
--@include transition
local function claim_move(KEYS, ARGV)
  local function fill(tpl, taskId, jobId)
    local a = string.find(tpl, '\1', 1, true)
    if a then tpl = string.sub(tpl, 1, a - 1) .. taskId .. string.sub(tpl, a + 1) end
    local b = string.find(tpl, '\2', 1, true)
    if b then tpl = string.sub(tpl, 1, b - 1) .. jobId .. string.sub(tpl, b + 1) end
    return tpl
  end
  local n = tonumber(ARGV[1])
  local claimArgs = {}
  for i = 1, n do claimArgs[i] = ARGV[1 + i] end
  local got = claim(KEYS, claimArgs)
  if not got[1] then return got end
  local id, token = got[1], got[3]
  -- A job id is <task id>.<index> (keys.ts taskIdOf); an id that is not leaves the record unmoved.
  local taskId = string.match(id, '^(.+)%.[^.]*$')
  if not taskId then
    got[4] = 0
    return got
  end
  local moveKeys = {}
  for i = 1, 6 do moveKeys[i] = fill(ARGV[1 + n + i], taskId, id) end
  local moveArgs = {}
  for i = 8 + n, #ARGV do moveArgs[#moveArgs + 1] = ARGV[i] end
  moveArgs[#moveArgs + 1] = 'leaseToken'
  moveArgs[#moveArgs + 1] = token
  local moved = transition(moveKeys, moveArgs)
  for i = 1, #moved do got[3 + i] = moved[i] end
  return got
end
