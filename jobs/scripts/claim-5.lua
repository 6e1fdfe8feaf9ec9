-- A claim: the first job of the first non-empty ready set among the autoclusters asked for (in the
-- caller's order: priority, fair share, Rank), moved to the site's leases under a fresh lease token,
-- with the site's counters, in one step of one site shard. Two matchmakers can never take the same
-- job. The job record is moved (activated -> sent, fenced by this token) in its task shard next;
-- if that never happens the lease runs out and the lease check puts the entry back.
-- KEYS: 1 leases (zset job -> deadline), 2 lease tokens (hash), 3 non-empty autoclusters (set),
--       4 site counters (hash: waiting, seq), 5 site state counts, then one ready set per
--       autocluster asked for
-- ARGV: 1 lease deadline (ms), 2 random part of the token, 3 site, then the autocluster ids in the
--       order of their ready sets
-- Returns {job id, autocluster, lease token}, or {} when every ready set asked for is empty (each
-- empty one is dropped from the non-empty set).
for i = 6, #KEYS do
  local ac = ARGV[i - 2]
  local top = redis.call('ZPOPMIN', KEYS[i])
  if top[1] then
    local id = top[1]
    -- The token names the job's autocluster and site: a heartbeat finds the shard with no lookup.
    local token = ac .. '.' .. ARGV[2] .. '.' .. ARGV[3]
    redis.call('ZADD', KEYS[1], ARGV[1], id)
    redis.call('HSET', KEYS[2], id, token)
    if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SREM', KEYS[3], ac) end
    redis.call('HINCRBY', KEYS[4], 'waiting', -1)
    redis.call('HINCRBY', KEYS[5], 'activated', -1)
    redis.call('HINCRBY', KEYS[5], 'sent', 1)
    return {id, ac, token}
  end
  redis.call('SREM', KEYS[3], ac)
end
return {}
