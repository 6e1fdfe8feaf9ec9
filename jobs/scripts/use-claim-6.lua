-- A pilot token's use and a claim in one step of the site's shard: the token's record is in the
-- shard of the site the advert names (security/pilot-token-store.ts), the site the claim is made at,
-- so the matchmaker waits on one round trip for both instead of two in turn. The use comes first:
-- a token refused (unknown, expired, another site's, spent) claims nothing and spends nothing;
-- a token used and nothing to claim is spent, as when the two were apart.
-- KEYS: 1 the token's record, then claim-5.lua's KEYS (2-6 site keys, then one ready set per
--       autocluster asked for)
-- ARGV: 1 the site the advert names, 2 now (ms), then claim-5.lua's ARGV
-- Returns {'', refusal, detail} when the token is refused, else what claim-5.lua returns.
--@PILOT_TOKEN_USE
--@include claim
local used = use_pilot_token(KEYS, ARGV)
if used[1] ~= 'ok' then return {'', used[1], used[2]} end
local K, A = {}, {}
for i = 2, #KEYS do K[i - 1] = KEYS[i] end
for i = 3, #ARGV do A[i - 2] = ARGV[i] end
return claim(K, A)
