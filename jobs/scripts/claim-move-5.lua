-- A claim and its record's move in one step, for a single Redis server only: claim-5's step, then
-- transition-6's `activated -> sent` on the record of the job it took, written with the claim's
-- lease token. On one server this saves the matchmaker a round trip and a batching turn per match;
-- the outcome is what the two scripts in turn give (a record that cannot move is left to the
-- caller, who releases the claim as after claim-5). The record's keys are in the job's task shard,
-- known only once the job is taken, so they are made here from templates the caller passes (the
-- layout stays keys.ts's): this script breaks the one-slot rule on purpose and is never run on a
-- Redis Cluster, where the two steps stay apart (dispatch-queues.ts).
-- KEYS: as claim-5.lua (1-5 site keys, then one ready set per autocluster asked for)
-- ARGV: 1 n, the number of claim-5 arguments; 2 .. n+1 claim-5's ARGV; then the six task-shard key
--       templates of transition-6's KEYS, in its order ('\1' stands for the task id, '\2' for the
--       job id); then transition-6's ARGV, to which the field `leaseToken` with the claim's token
--       is added
-- Returns {} when every ready set asked for is empty, else {job id, autocluster, lease token,
-- then transition-6's result}.
--@include claim
--@include transition
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
