-- A pilot token's use, a claim and its record's move in one step, for a single Redis server only:
-- use-claim-6.lua's token use, then claim-move-5.lua's claim and move (which builds the record's
-- keys in the script, as a cluster would refuse). One round trip a match where there were two.
-- A token refused claims nothing and spends nothing.
-- KEYS: 1 the token's record, then claim-move-5.lua's KEYS
-- ARGV: 1 the site the advert names, 2 now (ms), 3 the pilot id it names, then claim-move-5.lua's ARGV
-- Returns {'', refusal, detail} when the token is refused, else what claim-move-5.lua returns.
--@PILOT_TOKEN_USE
--@include claim-move
return after_pilot_token(KEYS, ARGV, claim_move)
