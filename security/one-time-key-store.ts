// One-time proxy keys: minted by the matchmaker with each match, bound to the job's
// user, the job, its attempt and the pilot; the credential cache releases the user's proxy once per
// key. The same record then carries the job's renewal allowance (a long payload renews its proxy
// a limited number of times, presenting the same key). Each record carries the matchmaker's seal
// (service-seal.ts: HMAC under the one-time-key seal key, which only the matchmaker and the
// credential cache hold) over its binding and the key's hash, so a record written straight into
// Redis, or copied under another key, is refused: nobody without that key mints keys.
import type { RedisClient } from "../platform/redis-client.ts";
import { redisScript } from "../platform/redis-script.ts";
import { ERR, WmsError, type WireNames } from "../schemas/index.ts";
import { AuditLog, AUDIT_MAXLEN, siteAuditStreamKey } from "./audit-log.ts";
import type { AuditGrant } from "./audit-budget.ts";
import { newSecret, secretHash } from "./secret-hash.ts";
import type { SealVerifier, ServiceSealer } from "./service-seal.ts";

export const ONE_TIME_KEY_SEAL_PURPOSE = "one-time-key";

/** A caller without an audit budget (a test, a tool): every refusal is written. */
const AUDIT_ALWAYS: AuditGrant = { write: true, omitted: 0 };

export interface KeyBinding {
  readonly userDn: string;
  readonly jobId: string;
  readonly pilotId: string;
  /** The job's attempt the key was minted for: a key of attempt 1 is worthless once the job is requeued as attempt 2. */
  readonly attempt: number;
  /**
   * The site the job was matched at: the key lives in that site's shard (written in the claim's
   * own script, which runs in the site's slot), and whoever consumes it finds it there.
   */
  readonly site: string;
}

export interface ConsumedKey extends KeyBinding {
  readonly renewalsLeft: number;
}

/** A key not yet stored: `value` must be SET at `key` with PX `pxMs` for `secret` to work. */
export interface PreparedKey {
  readonly secret: string;
  readonly key: string;
  readonly value: string;
  readonly pxMs: number;
}

export interface OneTimeKeyStoreOptions {
  /** Renewals a job may make after its first retrieval (config credentials.maxRenewals). */
  readonly maxRenewals: number;
  /** How long after the first use the renewal allowance lasts. */
  readonly renewalTtlSec?: number;
  readonly clock?: () => number;
  /** The matchmaker's: seals every key it prepares. */
  readonly sealer?: ServiceSealer;
  /** The credential cache's: a key whose record does not carry a valid seal is refused. */
  readonly verifier?: SealVerifier;
}

function sealText(keyHash: string, b: Omit<KeyBinding, "site">, expiresAt: number): string {
  return JSON.stringify([ONE_TIME_KEY_SEAL_PURPOSE, keyHash, b.userDn, b.jobId, b.pilotId, b.attempt, expiresAt]);
}

// A key's record is one JSON string written by a single SET with its expiry: the mint is on the
// matchmaker's per-match path, and one command costs Redis a fifth of a MULTI/HSET/PEXPIRE/EXEC.
// Each script checks and changes in one atomic step, so two pilots racing with one key cannot
// both get the proxy; the refusal of a second use writes its audit entry in that same step, to the
// audit stream of the key's own site shard (KEYS: 1 the key's record, 2 that stream).
// ARGV[11] says whether the caller's audit budget has room ('0': the refusal is refused all the
// same, not written), ARGV[12] how many refusals the budget left out before this one.
const CONSUME = redisScript(`
local function audit(event, r)
  if ARGV[11] ~= '1' then return end
  local entry = {'event', event, 'at', ARGV[1], 'userDn', r.userDn, 'jobId', r.jobId, 'pilotId', r.pilotId,
    'presentedUserDn', ARGV[2], 'presentedJobId', ARGV[3], 'presentedPilotId', ARGV[4]}
  if ARGV[12] ~= '0' then
    table.insert(entry, 'omittedBefore')
    table.insert(entry, ARGV[12])
  end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', unpack(entry))
end
local v = redis.call('GET', KEYS[1])
if not v then return {'invalid', 'unknown key'} end
local r = cjson.decode(v)
if r.seal ~= ARGV[8] then return {'invalid', 'the key record changed since its seal was checked'} end
if r.used == 1 then
  -- The same retrieval asked again (its answer was lost: a Redis or NATS blip, a timeout): the
  -- proxy goes to the same public key as the first time, so it gives nobody anything new.
  if ARGV[10] ~= '' and r.requester == ARGV[10] and r.userDn == ARGV[2] and r.jobId == ARGV[3] and r.pilotId == ARGV[4] and tostring(r.attempt) == ARGV[9] then
    return {'ok', r.userDn, r.jobId, r.pilotId, tostring(r.renewalsLeft)}
  end
  audit('one-time-key-reused', r)
  return {'reused'}
end
if tonumber(ARGV[1]) >= r.expiresAt then return {'invalid', 'expired'} end
if r.userDn ~= ARGV[2] or r.jobId ~= ARGV[3] or r.pilotId ~= ARGV[4] or tostring(r.attempt) ~= ARGV[9] then
  audit('one-time-key-misbound', r)
  return {'invalid', 'bound to another user, job, attempt or pilot'}
end
r.used = 1
r.requester = ARGV[10]
r.renewalsLeft = tonumber(ARGV[6])
redis.call('SET', KEYS[1], cjson.encode(r), 'PX', ARGV[5])
return {'ok', r.userDn, r.jobId, r.pilotId, ARGV[6]}
`);

// Renewal: only after the key was used, by the same binding, while allowance remains. KEYS: 1 the key's record.
const RENEW = redisScript(`
local v = redis.call('GET', KEYS[1])
if not v then return {'invalid', 'unknown key'} end
local r = cjson.decode(v)
if r.seal ~= ARGV[5] then return {'invalid', 'the key record changed since its seal was checked'} end
if r.used ~= 1 then return {'invalid', 'the key was never used to retrieve a proxy'} end
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

  /** Where the record of a key with this hash, minted for a job matched at `site`, lives. */
  keyOf(site: string, hash: string): string {
    return oneTimeKeyKey(this.names, site, hash);
  }

  /**
   * A new key and the record that makes it valid, for a caller that writes the record itself in
   * one atomic step with something else (the matchmaker: with the claim's state change).
   */
  prepare(req: KeyBinding & { ttlSec: number }, secret = newSecret()): PreparedKey {
    if (!(req.ttlSec > 0)) throw new WmsError(ERR.BAD_INPUT, `one-time key ttlSec must be positive, got ${req.ttlSec}`);
    if (req.userDn === "") throw new WmsError(ERR.MYPROXY_NO_USER_DN, "a one-time key needs the job's user DN");
    if (this.opts.sealer === undefined) throw new WmsError(ERR.INTERNAL, "only the matchmaker mints one-time keys: OneTimeKeyStore needs its sealer");
    const hash = secretHash(secret);
    const ttlMs = Math.round(req.ttlSec * 1000);
    const expiresAt = this.clock() + ttlMs;
    // The record's fields written out rather than spread from a binding object: this is per match.
    const record = { userDn: req.userDn, jobId: req.jobId, pilotId: req.pilotId, attempt: req.attempt, expiresAt, used: 0, seal: this.opts.sealer.seal(sealText(hash, req, expiresAt)) };
    // Kept a day past expiry so a late reuse is still recognised (and audited) as a reuse.
    return { secret, key: this.keyOf(req.site, hash), value: JSON.stringify(record), pxMs: ttlMs + 86_400_000 };
  }

  async mint(req: KeyBinding & { ttlSec: number }): Promise<string> {
    const p = this.prepare(req);
    await this.redis.set(p.key, p.value, "PX", p.pxMs);
    return p.secret;
  }

  /**
   * The record's seal, checked against the matchmaker's published key before any script runs; the
   * script then acts only if the record still carries that seal (nothing changed in between).
   */
  private async checkedSeal(secret: string, b: KeyBinding, audit: AuditGrant): Promise<string> {
    if (this.opts.verifier === undefined) throw new WmsError(ERR.INTERNAL, "OneTimeKeyStore needs a seal verifier to accept keys");
    const hash = secretHash(secret);
    const raw = await this.redis.get(this.keyOf(b.site, hash));
    if (raw === null) throw new WmsError(ERR.SEC_KEY_INVALID, `unknown key (job ${b.jobId}, pilot ${b.pilotId})`);
    let r: { userDn?: unknown; jobId?: unknown; pilotId?: unknown; attempt?: unknown; expiresAt?: unknown; seal?: unknown };
    try {
      r = JSON.parse(raw) as typeof r;
    } catch {
      r = {};
    }
    const bound = { userDn: String(r.userDn), jobId: String(r.jobId), pilotId: String(r.pilotId), attempt: Number(r.attempt) };
    const seal = typeof r.seal === "string" ? r.seal : undefined;
    if (!this.opts.verifier.verify(sealText(hash, bound, Number(r.expiresAt)), seal)) {
      if (audit.write) {
        const fields: Record<string, string> = { jobId: b.jobId, pilotId: b.pilotId, userDn: b.userDn, code: String(ERR.SEC_KEY_INVALID) };
        if (audit.omitted > 0) fields.omittedBefore = String(audit.omitted);
        await this.audit.write("one-time-key-unsealed", fields);
      }
      throw new WmsError(ERR.SEC_KEY_INVALID, `the key for job ${b.jobId} was not minted by the matchmaker (no valid seal); refused and audited`);
    }
    return seal as string;
  }

  /**
   * Spends the key for `b`. `requester` names the public key the proxy will be issued for (a hash
   * of it): the same binding presenting the key again for that same public key gets it again, not
   * a reuse refusal, so a retrieval whose answer was lost can be asked again; a proxy for a key
   * pair the asker does not hold is worth nothing to anyone else. `audit` is the caller's budget
   * for the refusal's audit entry (peeked: the caller spends it once the refusal came).
   */
  async consume(secret: string, b: KeyBinding, requester = "", audit: AuditGrant = AUDIT_ALWAYS): Promise<ConsumedKey> {
    const seal = await this.checkedSeal(secret, b, audit);
    const renewalTtlMs = Math.round((this.opts.renewalTtlSec ?? 7 * 86_400) * 1000);
    await this.audit.indexSite(b.site);
    const r = (await CONSUME.run(this.redis, oneTimeKeyConsumeKeys(this.names, b.site, secretHash(secret)), [
      String(this.clock()),
      b.userDn,
      b.jobId,
      b.pilotId,
      String(renewalTtlMs),
      String(this.opts.maxRenewals),
      String(AUDIT_MAXLEN),
      seal,
      String(b.attempt),
      requester,
      audit.write ? "1" : "0",
      String(audit.write ? audit.omitted : 0),
    ])) as string[];
    if (r[0] === "ok") return { userDn: r[1] as string, jobId: r[2] as string, pilotId: r[3] as string, attempt: b.attempt, site: b.site, renewalsLeft: Number(r[4]) };
    if (r[0] === "reused") throw new WmsError(ERR.SEC_KEY_REUSED, `the key for job ${b.jobId} was used before; this attempt is audited`);
    throw new WmsError(ERR.SEC_KEY_INVALID, `${r[1] ?? "invalid"} (job ${b.jobId}, pilot ${b.pilotId})`);
  }

  async consumeRenewal(secret: string, b: KeyBinding, audit: AuditGrant = AUDIT_ALWAYS): Promise<{ renewalsLeft: number }> {
    const seal = await this.checkedSeal(secret, b, audit);
    const r = (await RENEW.run(this.redis, [this.keyOf(b.site, secretHash(secret))], [b.userDn, b.jobId, b.pilotId, String(b.attempt), seal])) as string[];
    if (r[0] === "ok") return { renewalsLeft: Number(r[1]) };
    if (r[0] === "exhausted") throw new WmsError(ERR.SEC_RENEWAL_EXHAUSTED, `job ${b.jobId} has used all ${this.opts.maxRenewals} renewals`);
    throw new WmsError(ERR.SEC_KEY_INVALID, `${r[1] ?? "invalid"} (job ${b.jobId}, pilot ${b.pilotId})`);
  }
}
