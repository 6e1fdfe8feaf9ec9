// The pilot-token and one-time-key stores in Redis, each used by the roles that really use it: the
// factory mints pilot tokens and matchmakers spend them; the matchmaker mints one-time keys and the
// credential cache spends them. The forger is the intake, a service holding Redis write access and
// a seal key of its own (the job-spec one); the read-only monitor looks for secrets in clear.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { AuditLog, ONE_TIME_KEY_SEAL_PURPOSE, OneTimeKeyStore, PilotTokenStore, pkiSealKeys, SealVerifier, secretHash, ServiceSealer } from "../../security/index.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { openRedisAs } from "../support/live-services.ts";
import { expectCode, OTHER_USER_DN, USER_DN, usePki } from "./support/pki-fixture.ts";
import { storedValues } from "./support/redis-values.ts";

const loaded = testConfig("secstores");
const { names } = loaded;
const factory = openRedisAs(loaded, "factory");
const matchmaker = openRedisAs(loaded, "matchmaker");
const credentials = openRedisAs(loaded, "credentials");
const intake = openRedisAs(loaded, "intake");
const monitor = openRedisAs(loaded, "monitor");
let now = Date.now();
const clock = (): number => now;

afterAll(async () => {
  await deleteNamespaceKeys(matchmaker, names.namespace);
  for (const r of [factory, matchmaker, credentials, intake, monitor]) r.disconnect();
});

async function allValues(): Promise<string> {
  const { hashes, strings } = await storedValues(monitor, names.redisPrefix);
  return [...hashes, ...strings].join("\n");
}

describe("pilot tokens", () => {
  // The factory mints; a matchmaker spends.
  const factoryTokens = (): PilotTokenStore => new PilotTokenStore(factory, names, clock);
  const tokens = (): PilotTokenStore => new PilotTokenStore(matchmaker, names, clock);

  it("allows a few-use token exactly its count, then refuses it as spent", async () => {
    const t = await factoryTokens().mint({ site: "SITE_A", factoryId: "f1", uses: 2, ttlSec: 60 });
    expect(await tokens().consume(t, "SITE_A", "pilot-1")).toEqual({ factoryId: "f1", usesLeft: 1 });
    expect(await tokens().consume(t, "SITE_A", "pilot-1")).toEqual({ factoryId: "f1", usesLeft: 0 });
    await expectCode(() => tokens().consume(t, "SITE_A", "pilot-1"), ERR.SEC_TOKEN_SPENT);
  });

  it("refuses a token at another site without spending it", async () => {
    const t = await factoryTokens().mint({ site: "SITE_A", factoryId: "f1", uses: 1, ttlSec: 60 });
    await expectCode(() => tokens().consume(t, "SITE_B", "pilot-1"), ERR.SEC_TOKEN_WRONG_SITE);
    expect((await tokens().consume(t, "SITE_A", "pilot-1")).usesLeft).toBe(0);
  });

  it("refuses an expired token and an unknown one", async () => {
    const t = await factoryTokens().mint({ site: "SITE_A", factoryId: "f1", uses: 5, ttlSec: 30 });
    now += 31_000;
    await expectCode(() => tokens().consume(t, "SITE_A", "pilot-1"), ERR.SEC_TOKEN_EXPIRED);
    await expectCode(() => tokens().consume("not-a-token", "SITE_A", "pilot-1"), ERR.MATCH_TOKEN_REJECTED);
  });

  it("lets only one of many racing matchmakers spend a single-use token", async () => {
    const t = await factoryTokens().mint({ site: "SITE_A", factoryId: "f1", uses: 1, ttlSec: 60 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => tokens().consume(t, "SITE_A", "pilot-1")));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("stores tokens only as hashes", async () => {
    const t = await factoryTokens().mint({ site: "SITE_A", factoryId: "f1", uses: 1, ttlSec: 60 });
    expect(await allValues()).not.toContain(t);
  });
});

describe("one-time proxy keys", () => {
  const pki = usePki();
  const binding = { userDn: USER_DN, jobId: "job-1", pilotId: "pilot-1", attempt: 1, site: "SITE_A" };
  let sealer: ServiceSealer;
  let verifier: SealVerifier;
  beforeAll(() => {
    const sealKeys = pkiSealKeys(pki().dir);
    sealer = new ServiceSealer(sealKeys.oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE);
    verifier = new SealVerifier(sealKeys.oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE);
  });
  // The matchmaker mints (with the one-time-key seal); the credential cache spends (and verifies).
  const minter = (): OneTimeKeyStore => new OneTimeKeyStore(matchmaker, names, { maxRenewals: 2, clock, sealer });
  const keys = (): OneTimeKeyStore => new OneTimeKeyStore(credentials, names, { maxRenewals: 2, clock, sealer, verifier });

  it("refuses a key the matchmaker did not make: one made up beside a record written into Redis, one sealed with another key, one whose expiry was moved", async () => {
    // An attacker with Redis access (here the intake's) makes up a key and writes a record for it
    // where a use's record would be: Redis holds no authority, the key's own MAC does.
    const madeUp = "x".repeat(43);
    await expectCode(() => keys().consume(madeUp, binding), ERR.SEC_KEY_INVALID);
    // With a record of a use written for it, it is refused all the same (that record is no proof of
    // a real key), and no renewal is granted on that record either.
    await intake.set(minter().keyOf(binding.site, secretHash(madeUp)), JSON.stringify({ ...binding, requester: "", renewalsLeft: 5 }), "PX", 60_000);
    await expectCode(() => keys().consume(madeUp, binding), ERR.SEC_KEY_INVALID);
    await expectCode(() => keys().consumeRenewal(madeUp, binding), ERR.SEC_KEY_INVALID);
    // The intake holds a real seal key, but the job-spec one: what it makes is no one-time key.
    const intakeSealer = new ServiceSealer(pkiSealKeys(pki().dir).jobSpec, ONE_TIME_KEY_SEAL_PURPOSE);
    const byIntake = new OneTimeKeyStore(intake, names, { maxRenewals: 2, clock, sealer: intakeSealer }).mint({ ...binding, ttlSec: 60 });
    await expectCode(() => keys().consume(byIntake, binding), ERR.SEC_KEY_INVALID);
    // A real key whose expiry was pushed back: the MAC covers it.
    const real = minter().mint({ ...binding, ttlSec: 60 });
    const dot = real.indexOf(".");
    await expectCode(() => keys().consume(`${Number(real.slice(0, dot)) + 3_600_000}${real.slice(dot)}`, binding), ERR.SEC_KEY_INVALID);
    expect((await keys().consume(real, binding)).renewalsLeft).toBe(2);
    const audit = await new AuditLog(monitor, names).recent(10);
    expect(audit.filter((e) => e.event === "one-time-key-unsealed").length).toBeGreaterThanOrEqual(3);
  });

  it("writes nothing to Redis when a key is minted, and the record of its use when it is used, in the shard of the site it is bound to", async () => {
    const b = { ...binding, jobId: "job-mint-only", site: "SITE_M" };
    const k = minter().mint({ ...b, ttlSec: 60 });
    const record = minter().keyOf("SITE_M", secretHash(k));
    expect(await monitor.exists(record)).toBe(0);
    // The same key presented under another site (another shard, no record there) does not verify.
    await expectCode(() => keys().consume(k, { ...b, site: "SITE_OTHER" }), ERR.SEC_KEY_INVALID);
    await keys().consume(k, b);
    expect(await monitor.exists(record)).toBe(1);
    // Kept past the renewal allowance's start at least as long as the key could still be presented.
    expect(await monitor.pttl(record)).toBeGreaterThan(60_000);
  });

  it("refuses a key presented for another attempt of the same job", async () => {
    const k = minter().mint({ ...binding, ttlSec: 60 });
    await expectCode(() => keys().consume(k, { ...binding, attempt: 2 }), ERR.SEC_KEY_INVALID);
    expect((await keys().consume(k, binding)).attempt).toBe(1);
  });

  it("refuses a key used twice and audits the second use", async () => {
    const k = minter().mint({ ...binding, ttlSec: 60 });
    expect((await keys().consume(k, binding)).userDn).toBe(USER_DN);
    await expectCode(() => keys().consume(k, { ...binding, pilotId: "pilot-evil" }), ERR.SEC_KEY_REUSED);
    const entries = await new AuditLog(monitor, names).recent(10);
    const reuse = entries.find((e) => e.event === "one-time-key-reused" && e.fields.presentedPilotId === "pilot-evil");
    expect(reuse?.fields.jobId).toBe("job-1");
  });

  it("refuses a key presented for another user, job or pilot, and keeps it for the right one", async () => {
    const k = minter().mint({ ...binding, ttlSec: 60 });
    await expectCode(() => keys().consume(k, { ...binding, userDn: OTHER_USER_DN }), ERR.SEC_KEY_INVALID);
    await expectCode(() => keys().consume(k, { ...binding, jobId: "job-2" }), ERR.SEC_KEY_INVALID);
    await expectCode(() => keys().consume(k, { ...binding, pilotId: "pilot-2" }), ERR.SEC_KEY_INVALID);
    expect((await keys().consume(k, binding)).jobId).toBe("job-1");
  });

  it("refuses an expired key and an unknown one", async () => {
    const k = minter().mint({ ...binding, ttlSec: 10 });
    now += 11_000;
    await expectCode(() => keys().consume(k, binding), ERR.SEC_KEY_INVALID);
    await expectCode(() => keys().consume("forged", binding), ERR.SEC_KEY_INVALID);
  });

  it("hands a key to exactly one of many racing retrievals", async () => {
    const k = minter().mint({ ...binding, ttlSec: 60 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => keys().consume(k, binding)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("allows the job its renewals and no more, and none before the first retrieval", async () => {
    const k = minter().mint({ ...binding, ttlSec: 60 });
    await expectCode(() => keys().consumeRenewal(k, binding), ERR.SEC_KEY_INVALID);
    await keys().consume(k, binding);
    expect((await keys().consumeRenewal(k, binding)).renewalsLeft).toBe(1);
    await expectCode(() => keys().consumeRenewal(k, { ...binding, jobId: "job-2" }), ERR.SEC_KEY_INVALID);
    expect((await keys().consumeRenewal(k, binding)).renewalsLeft).toBe(0);
    await expectCode(() => keys().consumeRenewal(k, binding), ERR.SEC_RENEWAL_EXHAUSTED);
  });

  it("stores keys only as hashes", async () => {
    const k = minter().mint({ ...binding, jobId: "job-hashed", ttlSec: 60 });
    await keys().consume(k, { ...binding, jobId: "job-hashed" });
    expect(await allValues()).not.toContain(k);
  });
});
