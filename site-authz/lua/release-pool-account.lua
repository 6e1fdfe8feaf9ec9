-- A node reports on a leased account after a job (or an admin's reclaim). Only a clean report
-- changes anything: then nothing of the account runs or lies on that node, so every holder
-- registered from that node is done, whichever job it was. When no holder is left the account is
-- marked clean, which is what lets the lease script give it to another DN after it expires.
-- ARGV: account, dn, node, clean ('1' | '0')
-- Returns {status, holdersLeft, expiresAt}; status: released | dirty | unknown | other-dn
local acct, dn, node, clean = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local v = redis.call('HGET', KEYS[1], 'a:' .. acct)
if not v then return {'unknown', 0, 0} end
local rec = cjson.decode(v)
if rec.dn ~= dn then return {'other-dn', 0, rec.expiresAt} end
local left = 0
for _ in pairs(rec.holders) do left = left + 1 end
if clean ~= '1' then return {'dirty', left, rec.expiresAt} end
local prefix = node .. '/'
for h in pairs(rec.holders) do
  if string.sub(h, 1, #prefix) == prefix then
    rec.holders[h] = nil
    left = left - 1
  end
end
if left == 0 then
  rec.clean = true
  rec.holders = cjson.decode('{}')
end
redis.call('HSET', KEYS[1], 'a:' .. acct, cjson.encode(rec))
return {'released', left, rec.expiresAt}
