// One-time proxy keys: minted by the matchmaker with each match, bound to the job's user, the job,
// its attempt, the pilot and the site it was matched at; the credential cache releases the user's
// proxy once per key. The record the first use writes then carries the job's renewal allowance (a
// long payload renews its proxy a limited number of times, presenting the same key).
//
// A key is its own proof: `<expiresAt>.<nonce>.<seal key id>.<HMAC>`, the matchmaker's HMAC (service-seal.ts,
// under the one-time-key seal key, which only the matchmaker and the credential cache hold) over the
// binding and the expiry. The credential cache recomputes it from the binding the request names, so
// nobody without that key mints keys, and a key presented for another user, job, attempt, pilot or
// site, or past its expiry, is refused before Redis is asked anything. Nothing is stored at the
// match: the matchmaker's per-match path writes no record (a record, its seal and its SET cost ~2 KB
// of the matchmaker's heap a match, measured), and an attempt whose key is never used leaves
// nothing behind. Redis holds only what a use needs to be once-only: the record of the first use,
// written in that use's atomic step (SET if absent), which refuses any second use and keeps the
// renewals. Keyed hashing: RFC 2104; the same construction as the heartbeat keys (heartbeat-key.ts).
import type { RedisClient } from "../platform/redis-client.ts";
import { redisScript } from "../platform/redis-script.ts";
import { ERR, WmsError, type WireNames } from "../schemas/index.ts";
import { AuditLog, AUDIT_MAXLEN, siteAuditStreamKey } from "./audit-log.ts";
import type { AuditGrant } from "./audit-budget.ts";
import { randomBase64url } from "./random-pool.ts";
import { secretHash } from "./secret-hash.ts";
import type { SealVerifier, ServiceSealer } from "./service-seal.ts";

export const ONE_TIME_KEY_SEAL_PURPOSE = "one-time-key";

export interface KeyBinding {
  readonly userDn: string;
  readonly jobId: string;
  readonly pilotId: string;
  /** The job's attempt the key was minted for: a key of attempt 1 is worthless once the job is requeued as attempt 2. */
  readonly attempt: number;
  /**
   * The site the job was matched at: the record of the key's use lives in that site's shard, and
   * the key's MAC covers the site, so the same key presented under another site (another shard,
   * with no record of the first use) does not verify.
   */
  readonly site: string;
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
  /** The matchmaker's: makes every key it mints. */
  readonly sealer?: ServiceSealer;
  /** The credential cache's: a key whose MAC does not verify for the binding presented is refused. */
  readonly verifier?: SealVerifier;
}

function bindingText(b: KeyBinding, expiresAt: number, nonce: string): string {
  return JSON.stringify([b.userDn, b.jobId, b.pilotId, b.attempt, b.site, expiresAt, nonce]);
}

/**
 * Random bytes in every key, so two keys minted for the same binding in the same millisecond (a
 * claim given back and made again) are two keys, each usable once, not one.
 */
const NONCE_BYTES = 9;

/** A caller without an audit budget (a test, a tool): every refusal is written. */
const AUDIT_ALWAYS: AuditGrant = { write: true, omitted: 0 };

/** A record of a use is kept at least this long past the key's expiry, so a late second use is still seen (and audited) as one. */
const REUSE_MEMORY_MS = 86_400_000;

// The first use writes the record (SET only if absent, in the same atomic step as the check), so
// two pilots racing with one key cannot both get the proxy; the refusal of a second use writes its
// audit entry in that same step, to the audit stream of the key's own site shard (KEYS: 1 the
// key's use record, 2 that stream; ARGV: 1 now, 2-4 user DN, job, pilot, 5 the record's PX, 6 renewals,
// 7 the stream's MAXLEN, 8 attempt, 9 requester, 10 whether the caller's audit budget has room ('0':
// the reuse is refused all the same, not written), 11 how many refusals the budget left out before).
const CONSUME = redisScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], cjson.encode({userDn = ARGV[2], jobId = ARGV[3], pilotId = ARGV[4], attempt = tonumber(ARGV[8]), requester = ARGV[9], renewalsLeft = tonumber(ARGV[6])}), 'PX', ARGV[5])
  return {'ok', ARGV[6]}
end
local r = cjson.decode(v)
-- The same retrieval asked again (its answer was lost: a Redis or NATS blip, a timeout): the proxy
-- goes to the same public key as the first time, so it gives nobody anything new.
if ARGV[9] ~= '' and r.requester == ARGV[9] and r.userDn == ARGV[2] and r.jobId == ARGV[3] and r.pilotId == ARGV[4] and tostring(r.attempt) == ARGV[8] then
  return {'ok', tostring(r.renewalsLeft)}
end
if ARGV[10] == '1' then
  local entry = {'event', 'one-time-key-reused', 'at', ARGV[1], 'userDn', tostring(r.userDn), 'jobId', tostring(r.jobId), 'pilotId', tostring(r.pilotId),
    'presentedUserDn', ARGV[2], 'presentedJobId', ARGV[3], 'presentedPilotId', ARGV[4]}
  if ARGV[11] ~= '0' then
    table.insert(entry, 'omittedBefore')
    table.insert(entry, ARGV[11])
  end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', unpack(entry))
end
return {'reused'}
`);

// Renewal: only after the key was used, by the same binding, while allowance remains. KEYS: 1 the key's use record.
const RENEW = redisScript(`
local v = redis.call('GET', KEYS[1])
if not v then return {'invalid', 'the key was never used to retrieve a proxy'} end
local r = cjson.decode(v)
if r.userDn ~= ARGV[1] or r.jobId ~= ARGV[2] or r.pilotId ~= ARGV[3] or tostring(r.attempt) ~= ARGV[4] then return {'invalid', 'bound to another user, job, attempt or pilot'} end
if r.renewalsLeft <= 0 then return {'exhausted'} end
r.renewalsLeft = r.renewalsLeft - 1
redis.call('SET', KEYS[1], cjson.encode(r), 'KEEPTTL')
return {'ok', tostring(r.renewalsLeft)}
`);

/** Where a key's record lives: the shard of the site the job was matched at. */
export function oneTimeKeyKey(names: WireNames, site: string, keyHash: string): string {
  return names.siteKey(site, "sec", "otk", keyHash);
}

/** The consume script's KEYS: the record and the audit stream of the same site shard. */
export function oneTimeKeyConsumeKeys(names: WireNames, site: string, keyHash: string): [string, string] {
  return [oneTimeKeyKey(names, site, keyHash), siteAuditStreamKey(names, site)];
}

/**
 * A new key for `req`, valid `req.ttlSec` from `now`: pure (no Redis, no state), so the matchmaker
 * mints it once its claim stands, with nothing to write beside the claim.
 */
export function mintOneTimeKey(sealer: ServiceSealer, req: KeyBinding & { ttlSec: number }, now: number): string {
  if (!(req.ttlSec > 0)) throw new WmsError(ERR.BAD_INPUT, `one-time key ttlSec must be positive, got ${req.ttlSec}`);
  if (req.userDn === "") throw new WmsError(ERR.MYPROXY_NO_USER_DN, "a one-time key needs the job's user DN");
  const expiresAt = now + Math.round(req.ttlSec * 1000);
  const nonce = randomBase64url(NONCE_BYTES);
  return `${expiresAt}.${nonce}.${sealer.seal(bindingText(req, expiresAt, nonce))}`;
}

/** The binding a use's record names (written by CONSUME), or undefined when there is none or it does not parse. */
function usedBinding(raw: string | null, site: string): KeyBinding | undefined {
  if (raw === null) return undefined;
  try {
    const r = JSON.parse(raw) as Partial<Record<keyof KeyBinding, unknown>>;
    if (typeof r.userDn !== "string" || typeof r.jobId !== "string" || typeof r.pilotId !== "string" || typeof r.attempt !== "number") return undefined;
    return { userDn: r.userDn, jobId: r.jobId, pilotId: r.pilotId, attempt: r.attempt, site };
  } catch {
    return undefined;
  }
}

function reusedError(b: KeyBinding): WmsError {
  return new WmsError(ERR.SEC_KEY_REUSED, `the key for job ${b.jobId} was used before; this attempt is audited`);
}

export class OneTimeKeyStore {
  private readonly clock: () => number;
  private readonly audit: AuditLog;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
    private readonly opts: OneTimeKeyStoreOptions,
  ) {
    this.clock = opts.clock ?? Date.now;
    this.audit = new AuditLog(redis, names);
  }

  /** Where the record of the use of a key with this hash, minted for a job matched at `site`, lives. */
  keyOf(site: string, hash: string): string {
    return oneTimeKeyKey(this.names, site, hash);
  }

  /** A new key for `req`, made by this store's sealer (see `mintOneTimeKey`). */
  mint(req: KeyBinding & { ttlSec: number }): string {
    if (this.opts.sealer === undefined) throw new WmsError(ERR.INTERNAL, "only the matchmaker mints one-time keys: OneTimeKeyStore needs its sealer");
    return mintOneTimeKey(this.opts.sealer, req, this.clock());
  }

  /**
   * The key's expiry, once its MAC is checked against the binding presented. A key that does not
   * verify is refused: as a reuse when it is a real key whose use is on record (someone else holds it now), else
   * as invalid and audited (forged, or presented for another binding than it was minted for).
   */
  private async checked(secret: string, b: KeyBinding, op: "retrieve" | "renew", audit: AuditGrant): Promise<number> {
    const verifier = this.opts.verifier;
    if (verifier === undefined) throw new WmsError(ERR.INTERNAL, "OneTimeKeyStore needs a seal verifier to accept keys");
    // `<expiresAt>.<nonce>.<seal>`: the seal is `<key id>.<MAC>` (service-seal.ts).
    const dot = secret.indexOf(".");
    const dot2 = dot > 0 ? secret.indexOf(".", dot + 1) : -1;
    const expiresAt = dot > 0 && dot <= 16 ? Number(secret.slice(0, dot)) : Number.NaN;
    const verifies = (bound: KeyBinding): boolean => Number.isSafeInteger(expiresAt) && dot2 > 0 && verifier.verify(bindingText(bound, expiresAt, secret.slice(dot + 1, dot2)), secret.slice(dot2 + 1));
    if (verifies(b)) return expiresAt;
    if (op === "retrieve") {
      // A real key, used, now presented by someone else (it leaked): its use is on record and the
      // key verifies for the binding recorded there. A record planted in Redis for a made-up key
      // matches no MAC, so it is no reuse.
      const used = usedBinding(await this.redis.get(this.keyOf(b.site, secretHash(secret))), b.site);
      if (used !== undefined && verifies(used)) {
        await this.writeAudit(audit, "one-time-key-reused", { userDn: used.userDn, jobId: used.jobId, pilotId: used.pilotId, presentedUserDn: b.userDn, presentedJobId: b.jobId, presentedPilotId: b.pilotId });
        throw reusedError(b);
      }
    }
    await this.writeAudit(audit, "one-time-key-unsealed", { jobId: b.jobId, pilotId: b.pilotId, userDn: b.userDn, attempt: String(b.attempt), site: b.site, code: String(ERR.SEC_KEY_INVALID) });
    throw new WmsError(ERR.SEC_KEY_INVALID, `not a key the matchmaker minted for job ${b.jobId}, attempt ${b.attempt}, pilot ${b.pilotId}; refused and audited`);
  }

  /** A refusal's audit entry, when the caller's budget has room (saying how many it left out before). */
  private async writeAudit(audit: AuditGrant, event: string, fields: Record<string, string>): Promise<void> {
    if (!audit.write) return;
    await this.audit.write(event, audit.omitted > 0 ? { ...fields, omittedBefore: String(audit.omitted) } : fields);
  }

  /**
   * Spends the key for `b`. `requester` names the public key the proxy will be issued for (a hash
   * of it): the same binding presenting the key again for that same public key gets it again, not
   * a reuse refusal, so a retrieval whose answer was lost can be asked again; a proxy for a key
   * pair the asker does not hold is worth nothing to anyone else. `audit` is the caller's budget
   * for the refusal's audit entry (peeked: the caller spends it once the refusal came).
   */
  async consume(secret: string, b: KeyBinding, requester = "", audit: AuditGrant = AUDIT_ALWAYS): Promise<ConsumedKey> {
    const expiresAt = await this.checked(secret, b, "retrieve", audit);
    const now = this.clock();
    if (now >= expiresAt) throw new WmsError(ERR.SEC_KEY_INVALID, `expired (job ${b.jobId}, pilot ${b.pilotId})`);
    // The record outlives the renewal allowance and the key itself (plus a day), so no use of a
    // key that still verifies ever finds it gone.
    const keepMs = Math.max(Math.round((this.opts.renewalTtlSec ?? 7 * 86_400) * 1000), expiresAt - now + REUSE_MEMORY_MS);
    await this.audit.indexSite(b.site);
    const r = (await CONSUME.run(this.redis, oneTimeKeyConsumeKeys(this.names, b.site, secretHash(secret)), [
      String(now),
      b.userDn,
      b.jobId,
      b.pilotId,
      String(keepMs),
      String(this.opts.maxRenewals),
      String(AUDIT_MAXLEN),
      String(b.attempt),
      requester,
      audit.write ? "1" : "0",
      String(audit.write ? audit.omitted : 0),
    ])) as string[];
    if (r[0] === "ok") return { ...b, renewalsLeft: Number(r[1]) };
    throw reusedError(b);
  }

  /** A renewal: the key must verify for `b` (its expiry does not matter: renewals come later in the job) and have been used. */
  async consumeRenewal(secret: string, b: KeyBinding, audit: AuditGrant = AUDIT_ALWAYS): Promise<{ renewalsLeft: number }> {
    await this.checked(secret, b, "renew", audit);
    const r = (await RENEW.run(this.redis, [this.keyOf(b.site, secretHash(secret))], [b.userDn, b.jobId, b.pilotId, String(b.attempt)])) as string[];
    if (r[0] === "ok") return { renewalsLeft: Number(r[1]) };
    if (r[0] === "exhausted") throw new WmsError(ERR.SEC_RENEWAL_EXHAUSTED, `job ${b.jobId} has used all ${this.opts.maxRenewals} renewals`);
    throw new WmsError(ERR.SEC_KEY_INVALID, `${r[1] ?? "invalid"} (job ${b.jobId}, pilot ${b.pilotId})`);
  }
}
