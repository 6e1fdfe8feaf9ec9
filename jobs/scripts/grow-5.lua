-- Adds jobs to an open task (one whose input is another task's output, released file by file) and
-- marks the input files they consume, or closes the task, in one step of its task shard: files are
-- taken and jobs recorded together or not at all, so two planners racing on one task can neither
-- consume a file twice nor leave a consumed file without its job.
-- KEYS: 1 task hash, 2 task state counts, 3 task error counts, 4 the task's job ids (list),
--       5 its consumed input files (set of "<dataset>\n<lfn>"), then one job hash per new job
-- ARGV: 1 njobs the planner read (optimistic check: another planner added jobs since → conflict),
--       2 '1' close the task after this step, 3 now, 4 error code the task closes with ('' none),
--       5 message the task closes with ('' none), 6 number of files F, 7..6+F the files,
--       then 6 values per new job (its hash is KEYS[5 + i]): job id, state, site, spec JSON,
--       error code, error message
-- Returns {1, njobs after, status after} | {0, why} (not open, or aborted: closed now) |
--         {-1, njobs now} (conflict: plan again) | {-2, file} (a file is consumed already).
--@include rollup
local t = redis.call('HMGET', KEYS[1], 'open', 'status', 'njobs')
if t[1] ~= '1' then return {0, 'closed'} end
if t[2] == 'aborted' then
  redis.call('HSET', KEYS[1], 'open', '0', 'updatedAt', ARGV[3])
  return {0, 'aborted'}
end
local njobs = tonumber(t[3] or '0')
if tostring(njobs) ~= ARGV[1] then return {-1, njobs} end
local nf = tonumber(ARGV[6])
for i = 7, 6 + nf do
  if redis.call('SISMEMBER', KEYS[5], ARGV[i]) == 1 then return {-2, ARGV[i]} end
end
for i = 7, 6 + nf, 500 do
  redis.call('SADD', KEYS[5], unpack(ARGV, i, math.min(i + 499, 6 + nf)))
end
local first = 7 + nf
local added = 0
for a = first, #ARGV, 6 do
  added = added + 1
  local state = ARGV[a + 1]
  local fields = {'spec', ARGV[a + 3], 'state', state, 'site', ARGV[a + 2], 'attempt', '1', 'createdAt', ARGV[3], 'updatedAt', ARGV[3]}
  if ARGV[a + 4] ~= '' then
    fields[#fields + 1] = 'errorCode'
    fields[#fields + 1] = ARGV[a + 4]
    redis.call('HINCRBY', KEYS[3], ARGV[a + 4], 1)
  end
  if ARGV[a + 5] ~= '' then
    fields[#fields + 1] = 'errorMessage'
    fields[#fields + 1] = ARGV[a + 5]
  end
  redis.call('HSET', KEYS[5 + added], unpack(fields))
  redis.call('RPUSH', KEYS[4], ARGV[a])
  redis.call('HINCRBY', KEYS[2], state, 1)
end
njobs = njobs + added
local fields = {'njobs', tostring(njobs), 'updatedAt', ARGV[3]}
if ARGV[2] == '1' then
  fields[#fields + 1] = 'open'
  fields[#fields + 1] = '0'
  if ARGV[5] ~= '' then
    fields[#fields + 1] = 'message'
    fields[#fields + 1] = ARGV[5]
  end
  if ARGV[4] ~= '' then
    fields[#fields + 1] = 'errorCode'
    fields[#fields + 1] = ARGV[4]
  end
  -- Closed with no job at all (its producer wrote nothing): nothing ran and nothing will.
  if njobs == 0 then
    fields[#fields + 1] = 'status'
    fields[#fields + 1] = 'broken'
  end
end
redis.call('HSET', KEYS[1], unpack(fields))
return {1, njobs, rollUp(KEYS[1], KEYS[2], ARGV[3])}
