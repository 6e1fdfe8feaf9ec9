// Single/few-use pilot tokens: minted by the factory per pilot, bound to its site, factory and
// pilot id, consumed by the matchmaker one use per job request.
import { LRUCache } from "lru-cache";
import type { RedisClient } from "../platform/redis-client.ts";
import { batchedRedisScript } from "../platform/redis-script.ts";
import { ERR, WmsError, type WireNames } from "../schemas/index.ts";
import { censusProof } from "./census-proof.ts";
import { newSecret, secretHash } from "./secret-hash.ts";

export interface MintTokenRequest {
  readonly site: string;
  readonly factoryId: string;
  /**
   * The pilot the token is for (the factory's): only adverts naming this pilot id may use it, so a
   * pilot cannot claim jobs, one-time keys and heartbeat keys under another pilot's id, which the
   * job records, the audit trail and the pool-lease service then hold to. Without it (tests, the
   * bench) the token serves any pilot id.
   */
  readonly pilotId?: string;
  readonly uses: number;
  readonly ttlSec: number;
}

/** The codes a refused pilot token is answered with: the matchmaker audits and counts them, the pilot exits on them. */
export const PILOT_TOKEN_REFUSALS: ReadonlySet<number> = new Set([ERR.MATCH_TOKEN_REJECTED, ERR.SEC_TOKEN_SPENT, ERR.SEC_TOKEN_EXPIRED, ERR.SEC_TOKEN_WRONG_SITE, ERR.SEC_TOKEN_WRONG_PILOT]);

export interface ConsumedToken {
  readonly factoryId: string;
  readonly usesLeft: number;
}

// Records outlive their expiry by this much so a late pilot hears "expired"/"spent", not "unknown".
const RETAIN_MS = 86_400_000;

// One script, so check-and-decrement is atomic: two matchmakers racing on the last use cannot
// both win, and a refused attempt (wrong site, expired) spends nothing. A token's record lives in
// its site's shard, so the consumes of one wave of adverts from a site batch into one script run
// on a Redis Cluster too, and the matchmaker's claim, in the same shard, runs this same function
// first in its own step (jobs/scripts/use-claim-6.lua): one round trip for both, and a token
// refused there claims nothing. KEYS: 1 the token's record in the shard of the site the advert
// names. ARGV: 1 that site, 2 now (ms), 3 the pilot id the advert names (a token minted for a pilot
// serves that pilot id only). Returns {'ok', factoryId, uses left} or {refusal, detail}.
// after_pilot_token(KEYS, ARGV, fn) is that use followed by a step of the same shard (the claim's):
// fn gets KEYS and ARGV past the token's (from KEYS[2] and ARGV[4]) only when the use is made, and
// a refusal comes back as {'', refusal, detail} (an empty first element, which no step returns).
export const PILOT_TOKEN_USE_LUA = `
local function use_pilot_token(KEYS, ARGV)
  local h = redis.call('HMGET', KEYS[1], 'site', 'factoryId', 'usesLeft', 'expiresAt', 'pilotId')
  if not h[1] then return {'unknown'} end
  if tonumber(ARGV[2]) >= tonumber(h[4]) then return {'expired'} end
  if h[1] ~= ARGV[1] then return {'wrong-site', h[1]} end
  if h[5] and h[5] ~= ARGV[3] then return {'wrong-pilot', h[5]} end
  if tonumber(h[3]) <= 0 then return {'spent'} end
  local left = redis.call('HINCRBY', KEYS[1], 'usesLeft', -1)
  return {'ok', h[2], tostring(left)}
end
local function after_pilot_token(KEYS, ARGV, fn)
  local used = use_pilot_token(KEYS, ARGV)
  if used[1] ~= 'ok' then return {'', used[1], used[2]} end
  local K, A = {}, {}
  for i = 2, #KEYS do K[i - 1] = KEYS[i] end
  for i = 4, #ARGV do A[i - 3] = ARGV[i] end
  return fn(K, A)
end
`;
const CONSUME = batchedRedisScript(`${PILOT_TOKEN_USE_LUA}
return use_pilot_token(KEYS, ARGV)
`);

/**
 * One use of a pilot token, ready to be made: the script's key and arguments (PILOT_TOKEN_USE_LUA),
 * by `PilotTokenStore.spend` alone or by the claim's own step (`DispatchQueues.claim`), whose reply
 * `PilotTokenStore.settle` reads.
 */
export interface PilotTokenUse {
  /** The token's record (KEYS[1]). */
  readonly key: string;
  /** ARGV: the site and the pilot id the advert names, and now (ms). */
  readonly args: readonly [site: string, now: string, pilotId: string];
  /** The token's hash: an unknown token's site is looked up by it. */
  readonly hash: string;
}

/** A token's record (the consume script's one key), in the shard of the site it was minted for. */
export function pilotTokenKey(names: WireNames, site: string, tokenHash: string): string {
  return names.siteKey(site, "sec", "ptoken", tokenHash);
}

/** Tokens whose hash and record key a store remembers (`use`). */
const RECENT_TOKENS = 10_000;

export class PilotTokenStore {
  // The least recently used out: enough for pilots that come and go, and a hit allocates nothing
  // (this is once per advert on the matchmaker).
  private readonly recent = new LRUCache<string, { readonly site: string; readonly hash: string; readonly key: string }>({ max: RECENT_TOKENS });

  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
    private readonly clock: () => number = Date.now,
  ) {}

  private key(site: string, hash: string): string {
    return pilotTokenKey(this.names, site, hash);
  }

  /**
   * Which site a token was minted for, outside any shard: read only when a consume found no record
   * in the shard of the site the pilot named, to tell "another site's token" from "no such token".
   */
  private siteOfKey(hash: string): string {
    return this.names.redisKey("sec", "ptoken-site", hash);
  }

  async mint(req: MintTokenRequest): Promise<string> {
    if (!Number.isInteger(req.uses) || req.uses < 1 || req.uses > 10_000) throw new WmsError(ERR.BAD_INPUT, `token uses must be an integer 1..10000, got ${req.uses}`);
    if (!(req.ttlSec > 0)) throw new WmsError(ERR.BAD_INPUT, `token ttlSec must be positive, got ${req.ttlSec}`);
    if (req.site === "" || req.factoryId === "" || req.pilotId === "") throw new WmsError(ERR.BAD_INPUT, "a token needs a site and a factory id, and a pilot id if one is named");
    const token = newSecret();
    const hash = secretHash(token);
    const expiresAt = this.clock() + Math.round(req.ttlSec * 1000);
    const key = this.key(req.site, hash);
    const retainMs = Math.round(req.ttlSec * 1000) + RETAIN_MS;
    await this.redis.set(this.siteOfKey(hash), req.site, "PX", retainMs);
    await this.redis
      .multi()
      .hset(key, { site: req.site, factoryId: req.factoryId, usesLeft: String(req.uses), expiresAt: String(expiresAt), ...(req.pilotId !== undefined && { pilotId: req.pilotId }) })
      .pexpire(key, retainMs)
      .exec();
    return token;
  }

  /** What the census of the pilot started with `token` carries to show it is that pilot's (census-proof.ts). */
  censusProof(token: string, pilotId: string): string {
    return censusProof(token, pilotId);
  }

  /** What the factory keeps of a census proof, and compares a census's proof with: its SHA-256. */
  proofHash(proof: string): string {
    return secretHash(proof);
  }

  /** A use of `token` at `site` by the pilot `pilotId` names, to be made by `spend` or inside a claim (PilotTokenUse). */
  use(token: string, site: string, pilotId: string): PilotTokenUse {
    // A pilot sends its one token with every advert: its hash and its record's key are worked out
    // once and remembered (a hash and a key string built anew cost ~0.3 KB of heap per advert).
    let seen = this.recent.get(token);
    if (seen === undefined || seen.site !== site) {
      const hash = secretHash(token);
      seen = { site, hash, key: this.key(site, hash) };
      this.recent.set(token, seen);
    }
    return { key: seen.key, args: [site, String(this.clock()), pilotId], hash: seen.hash };
  }

  async consume(token: string, site: string, pilotId: string): Promise<ConsumedToken> {
    return this.spend(this.use(token, site, pilotId));
  }

  /** Makes the use on its own (a batched script call): the token's reply, or its refusal thrown. */
  async spend(use: PilotTokenUse): Promise<ConsumedToken> {
    return this.settle(use, (await CONSUME.run(this.redis, [use.key], use.args)) as readonly unknown[]);
  }

  /** What the use script answered: the consumer's result, or its refusal thrown (`refusal`). */
  async settle(use: PilotTokenUse, reply: readonly unknown[]): Promise<ConsumedToken> {
    if (reply[0] === "ok") return { factoryId: String(reply[1]), usesLeft: Number(reply[2]) };
    throw await this.refusal(use, reply);
  }

  /** A refused use's reply as the coded error the pilot acts on (spent, expired, another site's or pilot's, unknown). */
  async refusal(use: PilotTokenUse, reply: readonly unknown[]): Promise<WmsError> {
    let r = reply;
    const site = use.args[0];
    if (r[0] === "unknown") {
      // Refused in any case; only the reason is looked up (another site's token, or none at all).
      const mintedFor = await this.redis.get(this.siteOfKey(use.hash));
      if (mintedFor !== null && mintedFor !== site) r = ["wrong-site", mintedFor];
    }
    switch (r[0]) {
      case "expired":
        return new WmsError(ERR.SEC_TOKEN_EXPIRED, "ask the factory for a new pilot");
      case "wrong-site":
        return new WmsError(ERR.SEC_TOKEN_WRONG_SITE, `the token was minted for site ${String(r[1])}, not ${site}`);
      case "wrong-pilot":
        return new WmsError(ERR.SEC_TOKEN_WRONG_PILOT, `the token was minted for pilot ${String(r[1])}, not ${use.args[2]}`);
      case "spent":
        return new WmsError(ERR.SEC_TOKEN_SPENT, "every use of this token is spent; the pilot must exit");
      default:
        return new WmsError(ERR.MATCH_TOKEN_REJECTED, "unknown token");
    }
  }
}
