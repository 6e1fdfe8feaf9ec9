-- The start time of a late `starting` or `running` report of a job's current attempt, for a record
-- that already moved past those states without one: the pilot's heartbeat moved it to holding, or
-- its final report came first, while the report waited in a spool or a queue. Written only under the
-- report's fence and only if the record has none (the wall time then follows from it and the end:
-- job-store.ts reads it so).
-- KEYS: 1 job hash
-- ARGV: 1 attempt, 2 lease token, 3 pilot id ('' = any), 4 start time (epoch ms)
-- Returns 1 written, 0 not (stale, or a start already recorded).
--@include fence
if not fenced(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
return redis.call('HSETNX', KEYS[1], 'startedAt', ARGV[4])
