-- What a job's move (made in its task shard) means for its site: state counters, the holding index
-- (jobs whose payload ended, by when) and error counts, in one step of the site's shard.
-- KEYS: 1 site state counts, 2 holding index, 3 site error counts
-- ARGV: 1 job id, 2 now, 3 holding: 'add', 'rem' or '', 4 error code to count ('' none),
--       then state / delta pairs
if ARGV[3] == 'add' then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
if ARGV[3] == 'rem' then redis.call('ZREM', KEYS[2], ARGV[1]) end
if ARGV[4] ~= '' then redis.call('HINCRBY', KEYS[3], ARGV[4], 1) end
for i = 5, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
