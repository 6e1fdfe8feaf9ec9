// One-time proxy keys (seed 001): minted by the matchmaker with each match, bound to the job's
// user, the job and the pilot; the credential cache releases the user's proxy once per key.
// The same record then carries the job's renewal allowance (a long payload renews its proxy
// a limited number of times, presenting the same key).
import type { Redis } from "ioredis";
import { redisScript } from "../platform/redis-script.ts";
import { ERR, WmsError, type WireNames } from "../schemas/index.ts";
import { auditStreamKey, AUDIT_MAXLEN } from "./audit-log.ts";
import { newSecret, secretHash } from "./secret-hash.ts";

export interface KeyBinding {
  readonly userDn: string;
  readonly jobId: string;
  readonly pilotId: string;
}

export interface ConsumedKey extends KeyBinding {
  readonly renewalsLeft: number;
}

export interface OneTimeKeyStoreOptions {
  /** Renewals a job may make after its first retrieval (config credentials.maxRenewals). */
  readonly maxRenewals: number;
  /** How long after the first use the renewal allowance lasts. */
  readonly renewalTtlSec?: number;
  readonly clock?: () => number;
}

// Each script checks and changes in one atomic step, so two pilots racing with one key cannot
// both get the proxy; the refusal of a second use writes its audit entry in that same step.
const CONSUME = redisScript(`
local r = redis.call('HMGET', KEYS[1], 'userDn', 'jobId', 'pilotId', 'expiresAt', 'used')
if not r[1] then return {'invalid', 'unknown key'} end
if r[5] == '1' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'event', 'one-time-key-reused', 'at', ARGV[1],
    'userDn', r[1], 'jobId', r[2], 'pilotId', r[3], 'presentedUserDn', ARGV[2], 'presentedJobId', ARGV[3], 'presentedPilotId', ARGV[4])
  return {'reused'}
end
if tonumber(ARGV[1]) >= tonumber(r[4]) then return {'invalid', 'expired'} end
if r[1] ~= ARGV[2] or r[2] ~= ARGV[3] or r[3] ~= ARGV[4] then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'event', 'one-time-key-misbound', 'at', ARGV[1],
    'userDn', r[1], 'jobId', r[2], 'pilotId', r[3], 'presentedUserDn', ARGV[2], 'presentedJobId', ARGV[3], 'presentedPilotId', ARGV[4])
  return {'invalid', 'bound to another user, job or pilot'}
end
redis.call('HSET', KEYS[1], 'used', '1', 'renewalsLeft', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'ok', r[1], r[2], r[3], ARGV[6]}
`);

const RENEW = redisScript(`
local r = redis.call('HMGET', KEYS[1], 'userDn', 'jobId', 'pilotId', 'used', 'renewalsLeft')
if not r[1] then return {'invalid', 'unknown key'} end
if r[4] ~= '1' then return {'invalid', 'the key was never used to retrieve a proxy'} end
if r[1] ~= ARGV[1] or r[2] ~= ARGV[2] or r[3] ~= ARGV[3] then return {'invalid', 'bound to another user, job or pilot'} end
if tonumber(r[5]) <= 0 then return {'exhausted'} end
local left = redis.call('HINCRBY', KEYS[1], 'renewalsLeft', -1)
return {'ok', tostring(left)}
`);

export class OneTimeKeyStore {
  private readonly clock: () => number;

  constructor(
    private readonly redis: Redis,
    private readonly names: WireNames,
    private readonly opts: OneTimeKeyStoreOptions,
  ) {
    this.clock = opts.clock ?? Date.now;
  }

  private key(secret: string): string {
    return this.names.redisKey("sec", "otk", secretHash(secret));
  }

  async mint(req: KeyBinding & { ttlSec: number }): Promise<string> {
    if (!(req.ttlSec > 0)) throw new WmsError(ERR.BAD_INPUT, `one-time key ttlSec must be positive, got ${req.ttlSec}`);
    if (req.userDn === "") throw new WmsError(ERR.MYPROXY_NO_USER_DN, "a one-time key needs the job's user DN");
    const secret = newSecret();
    const key = this.key(secret);
    const ttlMs = Math.round(req.ttlSec * 1000);
    await this.redis
      .multi()
      .hset(key, { userDn: req.userDn, jobId: req.jobId, pilotId: req.pilotId, expiresAt: String(this.clock() + ttlMs), used: "0" })
      .pexpire(key, ttlMs + 86_400_000)
      .exec();
    return secret;
  }

  async consume(secret: string, b: KeyBinding): Promise<ConsumedKey> {
    const renewalTtlMs = Math.round((this.opts.renewalTtlSec ?? 7 * 86_400) * 1000);
    const r = (await CONSUME.run(this.redis, [this.key(secret), auditStreamKey(this.names)], [
      String(this.clock()),
      b.userDn,
      b.jobId,
      b.pilotId,
      String(renewalTtlMs),
      String(this.opts.maxRenewals),
      String(AUDIT_MAXLEN),
    ])) as string[];
    if (r[0] === "ok") return { userDn: r[1] as string, jobId: r[2] as string, pilotId: r[3] as string, renewalsLeft: Number(r[4]) };
    if (r[0] === "reused") throw new WmsError(ERR.SEC_KEY_REUSED, `the key for job ${b.jobId} was used before; this attempt is audited`);
    throw new WmsError(ERR.SEC_KEY_INVALID, `${r[1] ?? "invalid"} (job ${b.jobId}, pilot ${b.pilotId})`);
  }

  async consumeRenewal(secret: string, b: KeyBinding): Promise<{ renewalsLeft: number }> {
    const r = (await RENEW.run(this.redis, [this.key(secret)], [b.userDn, b.jobId, b.pilotId])) as string[];
    if (r[0] === "ok") return { renewalsLeft: Number(r[1]) };
    if (r[0] === "exhausted") throw new WmsError(ERR.SEC_RENEWAL_EXHAUSTED, `job ${b.jobId} has used all ${this.opts.maxRenewals} renewals`);
    throw new WmsError(ERR.SEC_KEY_INVALID, `${r[1] ?? "invalid"} (job ${b.jobId}, pilot ${b.pilotId})`);
  }
}
