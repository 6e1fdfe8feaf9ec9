// Single/few-use pilot tokens: minted by the factory per pilot, bound to its site and
// factory, consumed by the matchmaker one use per job request.
import type { RedisClient } from "../platform/redis-client.ts";
import { batchedRedisScript } from "../platform/redis-script.ts";
import { ERR, WmsError, type WireNames } from "../schemas/index.ts";
import { newSecret, secretHash } from "./secret-hash.ts";

export interface MintTokenRequest {
  readonly site: string;
  readonly factoryId: string;
  readonly uses: number;
  readonly ttlSec: number;
}

export interface ConsumedToken {
  readonly factoryId: string;
  readonly usesLeft: number;
}

// Records outlive their expiry by this much so a late pilot hears "expired"/"spent", not "unknown".
const RETAIN_MS = 86_400_000;

// One script, so check-and-decrement is atomic: two matchmakers racing on the last use cannot
// both win, and a refused attempt (wrong site, expired) spends nothing. A token's record lives in
// its site's shard, so the consumes of one wave of adverts from a site batch into one script run
// on a Redis Cluster too. KEYS: 1 the token's record in the shard of the site the advert names.
const CONSUME = batchedRedisScript(`
local h = redis.call('HMGET', KEYS[1], 'site', 'factoryId', 'usesLeft', 'expiresAt')
if not h[1] then return {'unknown'} end
if tonumber(ARGV[2]) >= tonumber(h[4]) then return {'expired'} end
if h[1] ~= ARGV[1] then return {'wrong-site', h[1]} end
if tonumber(h[3]) <= 0 then return {'spent'} end
local left = redis.call('HINCRBY', KEYS[1], 'usesLeft', -1)
return {'ok', h[2], tostring(left)}
`);

/** A token's record (the consume script's one key), in the shard of the site it was minted for. */
export function pilotTokenKey(names: WireNames, site: string, tokenHash: string): string {
  return names.siteKey(site, "sec", "ptoken", tokenHash);
}

export class PilotTokenStore {
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
    if (req.site === "" || req.factoryId === "") throw new WmsError(ERR.BAD_INPUT, "a token needs a site and a factory id");
    const token = newSecret();
    const hash = secretHash(token);
    const expiresAt = this.clock() + Math.round(req.ttlSec * 1000);
    const key = this.key(req.site, hash);
    const retainMs = Math.round(req.ttlSec * 1000) + RETAIN_MS;
    await this.redis.set(this.siteOfKey(hash), req.site, "PX", retainMs);
    await this.redis
      .multi()
      .hset(key, { site: req.site, factoryId: req.factoryId, usesLeft: String(req.uses), expiresAt: String(expiresAt) })
      .pexpire(key, retainMs)
      .exec();
    return token;
  }

  async consume(token: string, site: string): Promise<ConsumedToken> {
    const hash = secretHash(token);
    let r = (await CONSUME.run(this.redis, [this.key(site, hash)], [site, String(this.clock())])) as string[];
    if (r[0] === "unknown") {
      // Refused in any case; only the reason is looked up (another site's token, or none at all).
      const mintedFor = await this.redis.get(this.siteOfKey(hash));
      if (mintedFor !== null && mintedFor !== site) r = ["wrong-site", mintedFor];
    }
    switch (r[0]) {
      case "ok":
        return { factoryId: r[1] as string, usesLeft: Number(r[2]) };
      case "expired":
        throw new WmsError(ERR.SEC_TOKEN_EXPIRED, "ask the factory for a new pilot");
      case "wrong-site":
        throw new WmsError(ERR.SEC_TOKEN_WRONG_SITE, `the token was minted for site ${r[1]}, not ${site}`);
      case "spent":
        throw new WmsError(ERR.SEC_TOKEN_SPENT, "every use of this token is spent; the pilot must exit");
      default:
        throw new WmsError(ERR.MATCH_TOKEN_REJECTED, "unknown token");
    }
  }
}
