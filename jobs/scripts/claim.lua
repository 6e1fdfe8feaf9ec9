-- claim-5.lua's step as a function, so that claim-move-5.lua runs the same code (one owner).
-- claim(KEYS, ARGV) takes and returns what claim-5.lua's header says.
local function claim(KEYS, ARGV)
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
end
