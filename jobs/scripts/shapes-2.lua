-- A site's non-empty autoclusters with their keys: what a matchmaker matches an advert against.
-- KEYS: 1 the site's autocluster index (id -> JSON), 2 non-empty autoclusters
-- Returns id / JSON pairs.
local out = {}
for _, ac in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = redis.call('HGET', KEYS[1], ac)
  if key then
    out[#out + 1] = ac
    out[#out + 1] = key
  end
end
return out
