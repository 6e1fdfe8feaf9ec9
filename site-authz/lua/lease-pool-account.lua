-- Leases a pool account to a DN (SCAS's role: one site-central mapping for every worker node).
-- One script, not several calls: finding a free account and claiming it must be one step, or two
-- nodes could hand the same account to two DNs. All state sits in one hash (KEYS[1]) so the
-- script touches one key (Redis Cluster-safe):
--   a:<account> -> {"dn","expiresAt","holders":{holder: since},"clean"}    d:<dn> -> account
-- The clock is Redis's TIME, one clock for the whole site, not each node's.
-- ARGV: dn, leaseMs, holder ('' for none), mode ('lease' | 'peek'), accounts...
-- Returns {account|'', status, expiresAt, previousDn|''}; status: held | renewed | new | reused | exhausted
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dn, leaseMs, holder, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local peek = mode == 'peek'

local function load(acct)
  local v = redis.call('HGET', KEYS[1], 'a:' .. acct)
  if v then return cjson.decode(v) end
  return nil
end

local function save(acct, rec)
  if next(rec.holders) == nil then rec.holders = cjson.decode('{}') end
  redis.call('HSET', KEYS[1], 'a:' .. acct, cjson.encode(rec))
end

local function take(acct, rec)
  rec.expiresAt = now + leaseMs
  if holder ~= '' then
    rec.holders[holder] = now
    rec.clean = false
  end
  save(acct, rec)
end

local held = redis.call('HGET', KEYS[1], 'd:' .. dn)
if held then
  local rec = load(held)
  if rec and rec.dn == dn then
    if peek then return {held, 'held', rec.expiresAt, ''} end
    take(held, rec)
    return {held, 'renewed', rec.expiresAt, ''}
  end
end

for i = 5, #ARGV do
  local acct = ARGV[i]
  if not load(acct) then
    if peek then return {acct, 'new', now + leaseMs, ''} end
    take(acct, {dn = dn, holders = {}, clean = true})
    redis.call('HSET', KEYS[1], 'd:' .. dn, acct)
    return {acct, 'new', now + leaseMs, ''}
  end
end

-- An expired lease goes to another DN only once every node that ran it has confirmed (through the
-- release script) that the previous user's processes and files are gone.
for i = 5, #ARGV do
  local acct = ARGV[i]
  local rec = load(acct)
  if rec.expiresAt <= now and next(rec.holders) == nil and rec.clean then
    local previous = rec.dn
    if peek then return {acct, 'reused', now + leaseMs, previous} end
    redis.call('HDEL', KEYS[1], 'd:' .. previous)
    take(acct, {dn = dn, holders = {}, clean = true})
    redis.call('HSET', KEYS[1], 'd:' .. dn, acct)
    return {acct, 'reused', now + leaseMs, previous}
  end
end
return {'', 'exhausted', 0, ''}
