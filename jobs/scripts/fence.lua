-- The fencing check, included by every script that applies an update from a pilot (the loader
-- pastes this file where a script says `--@include fence`). An update counts only if it names the
-- job's current attempt and the lease token of that attempt's claim (and, when it says, the pilot
-- the claim went to); the store clears the token when the job goes back to its queue, so an update
-- can never match a job nobody holds. A refused update is counted by the caller in the error
-- counts of the job's site shard (this script may touch the job's task shard only).
-- Kept in one place so a signature check on the update can sit beside it.
local function fenced(jobKey, attempt, token, pilot)
  local held = redis.call('HMGET', jobKey, 'attempt', 'leaseToken', 'pilotId')
  return token ~= '' and held[1] == attempt and held[2] == token and (pilot == '' or held[3] == pilot)
end
