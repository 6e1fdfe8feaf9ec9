-- What the reconciler counts of job records, read in one step per batch of one task shard: the few
-- fields of each record it needs, and the record's own spec JSON only where it could matter. The
-- spec is most of a record, and what the tally needs of it (where a job queues: its site and its
-- autocluster's fields) is its task's template unless the record's own part sets such a field.
-- Whether any record of the task may do so is a flag of the task (job-store.ts), written before
-- any such record: read in the same step as the records, it holds for every record read here.
-- KEYS: 1 the task hash, 2.. job hashes of that task
-- ARGV: 1 the state whose queue matters (activated), 2 the task's flag field, 3.. the spec fields a
--       queue depends on
-- Returns, per job key, 6 values: state ('' when there is no record), site, errorCode, updatedAt,
-- leaseToken, and the record's own spec JSON when the flag is not '0', the record is in state
-- ARGV[1] or has no site, and that JSON names one of ARGV[3..] as a key; else ''.
local check = redis.call('HGET', KEYS[1], ARGV[2]) ~= '0'
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = '"' .. ARGV[i] .. '":' end
local out = {}
for i = 2, #KEYS do
  local r
  if check then
    -- The spec in the same call: most live records are activated, and one call costs Redis less than two.
    r = redis.call('HMGET', KEYS[i], 'state', 'site', 'errorCode', 'updatedAt', 'leaseToken', 'spec')
  else
    r = redis.call('HMGET', KEYS[i], 'state', 'site', 'errorCode', 'updatedAt', 'leaseToken')
  end
  local state, site = r[1] or '', r[2] or ''
  local own = ''
  if check and state ~= '' and (state == ARGV[1] or site == '') then
    local spec = r[6] or ''
    -- The JSON is written compact (JSON.stringify): a key the record sets appears as "name":.
    for _, f in ipairs(fields) do
      if string.find(spec, f, 1, true) then
        own = spec
        break
      end
    end
  end
  local n = #out
  out[n + 1] = state
  out[n + 2] = site
  out[n + 3] = r[3] or ''
  out[n + 4] = r[4] or ''
  out[n + 5] = r[5] or ''
  out[n + 6] = own
end
return out
