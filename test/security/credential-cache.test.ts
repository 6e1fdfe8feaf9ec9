// The credential cache on its own identity, with each party on the transport identity it really
// has: users delegate and ask for info with their `wms` (the operator role), pilots retrieve and
// renew on the pilots' identity, the matchmaker mints one-time keys in Redis. John, who tries to
// retrieve Jane's proxy, does it as a payload of his would: on the pilot identity the node holds.
import { createPublicKey, randomBytes } from "node:crypto";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditRecord, ERR, SCHEMA_VERSION, CredReply, type WmsConfig } from "../../schemas/index.ts";
import {
  AuditLog,
  createProxy,
  createProxyRequest,
  encryptToCertificate,
  ONE_TIME_KEY_SEAL_PURPOSE,
  OneTimeKeyStore,
  readServiceCredentials,
  REFUSAL_AUDITS_PER_MINUTE,
  ServiceSealer,
  signData,
  splitPems,
  verifyChain,
  type ProxyCredential,
  pkiSealKeys,
} from "../../security/index.ts";
import { CredentialClient, startCredentialCache, type CredentialCache } from "../../agents/credentials/index.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { openNatsAs, openRedisAs } from "../support/live-services.ts";
import { namespaceKeys, storedValues } from "./support/redis-values.ts";
import { BITS, buildPki, expectCode, OTHER_USER_DN, USER_DN, type PkiFixture } from "./support/pki-fixture.ts";

const loaded = testConfig("credcache");
const { config: base, names } = loaded;
const config: WmsConfig = { ...base, credentials: { ...base.credentials, encryptionKey: randomBytes(32).toString("base64"), maxRenewals: 1, proxyKeyBits: BITS, retrievedLifetimeSec: 1800 } };
let pki: PkiFixture;
/** The cache's own connections. */
let nc: NatsConnection;
let redis: RedisClient;
/** A user's `wms` (operator role) and a pilot's NATS connections; the matchmaker's Redis. */
let userNc: NatsConnection;
let pilotNc: NatsConnection;
let mmRedis: RedisClient;
let cache: CredentialCache;
let userProxy: ProxyCredential;
let pilotClient: CredentialClient;
let otherClient: CredentialClient;
let otherOnPilotWire: CredentialClient;
let userClient: CredentialClient;
let keys: OneTimeKeyStore;
/** The job state owner's answer, per job: these tests hold each job's attempt 1 running on pilot-1. */
const SITE = "SITE_A";
const liveJobs = new Map<string, { state: string; attempt: number; pilotId: string; site: string; walltimeSec?: number }>();
/** The audit records the cache hands to its report sink (RabbitMQ's ReportPublisher in `wms credentials serve`). */
const published: AuditRecord[] = [];

beforeAll(async () => {
  pki = buildPki();
  nc = await openNatsAs(loaded, "credentials", "test-credcache");
  redis = openRedisAs(loaded, "credentials");
  userNc = await openNatsAs(loaded, "operator", "test-credcache-user");
  pilotNc = await openNatsAs(loaded, "pilot", "test-credcache-pilot");
  mmRedis = openRedisAs(loaded, "matchmaker");
  cache = startCredentialCache({
    nc,
    redis,
    names,
    config: { ...config, pki: { dir: pki.dir } },
    trust: pki.trust,
    reports: { publish: async (r) => void published.push(r) },
    jobs: { attemptOf: async (jobId) => liveJobs.get(jobId) },
  });
  // Its subscriptions are in place before anything asks it (under load a request could find no responder).
  await cache.ready;
  userProxy = createProxy({ certPem: pki.user.certPem, keyPem: pki.user.keyPem, lifetimeSec: 3600, keyBits: BITS });
  userClient = new CredentialClient(userNc, names, { trust: pki.trust });
  pilotClient = new CredentialClient(pilotNc, names, { trust: pki.trust, caller: { certChain: [pki.pilot.certPem], keyPem: pki.pilot.keyPem }, proxyKeyBits: BITS });
  const john = { trust: pki.trust, caller: { certChain: [pki.otherUser.certPem], keyPem: pki.otherUser.keyPem }, proxyKeyBits: BITS };
  otherClient = new CredentialClient(userNc, names, john);
  otherOnPilotWire = new CredentialClient(pilotNc, names, john);
  const sealer = new ServiceSealer(pkiSealKeys(pki.dir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE);
  keys = new OneTimeKeyStore(mmRedis, names, { maxRenewals: 1, sealer });
  // Delegated from a local proxy of Jane's (as a user whose long-lived key is not at hand would).
  await userClient.delegate({ certChain: userProxy.chain, keyPem: userProxy.keyPem }, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
});

afterAll(async () => {
  await cache.stop();
  await Promise.all([nc, userNc, pilotNc].map((c) => c.close()));
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  mmRedis.disconnect();
  pki.cleanup();
});

/** More than a flood writes: every entry of the streams the test's namespace has. */
const AUDIT_READ = 5000;

let jobSeq = 0;
async function keyFor(over: Partial<{ userDn: string; jobId: string; pilotId: string }> = {}, walltimeSec?: number): Promise<{ oneTimeKey: string; userDn: string; jobId: string; pilotId: string; attempt: number }> {
  const b = { userDn: USER_DN, jobId: `job-${++jobSeq}`, pilotId: "pilot-1", attempt: 1, ...over };
  liveJobs.set(b.jobId, { state: "running", attempt: 1, pilotId: b.pilotId, site: SITE, walltimeSec });
  return { ...b, oneTimeKey: await keys.mint({ ...b, site: SITE, ttlSec: 60 }) };
}

describe("credential cache", () => {
  it("gives a pilot with the job's one-time key a fresh proxy for the pilot's own key, signed by the stored proxy", async () => {
    const got = await pilotClient.retrieve(await keyFor());
    const chain = splitPems(got.proxyPem);
    const id = verifyChain(chain, pki.trust);
    expect(id.dn).toBe(USER_DN);
    // The new proxy, the stored one (delegated from Jane's local proxy), that local proxy, Jane's certificate.
    expect(chain).toHaveLength(4);
    expect(chain.slice(2)).toEqual(userProxy.chain.map((p) => p.trim()));
    // The key in the file is the one the pilot made, and it is the new proxy's.
    const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(got.proxyPem)?.[0] as string;
    expect(createPublicKey(key).export({ type: "spki", format: "der" }).equals(id.publicKey.export({ type: "spki", format: "der" }))).toBe(true);
    expect(got.notAfter).toBeGreaterThan(Date.now());
  });

  it("caps a retrieved proxy's life by policy and by the job's walltime (plus 10 min)", async () => {
    const byPolicy = await pilotClient.retrieve(await keyFor());
    expect(byPolicy.notAfter - Date.now()).toBeLessThanOrEqual(1800_000);
    expect(byPolicy.notAfter - Date.now()).toBeGreaterThan(1700_000);
    const byWalltime = await pilotClient.retrieve(await keyFor({}, 300));
    expect(byWalltime.notAfter - Date.now()).toBeLessThanOrEqual(900_000);
    expect(byWalltime.notAfter - Date.now()).toBeGreaterThan(800_000);
  });

  it("reports username, owner, retrieval policy and time left to the owner only", async () => {
    const info = await userClient.info({ certChain: userProxy.chain, keyPem: userProxy.keyPem });
    expect(info).toMatchObject({ found: true, username: USER_DN, owner: USER_DN, retrievers: ["role:pilot"] });
    expect(info.timeLeftSec).toBeGreaterThan(3000);
    await expectCode(() => otherClient.info({ certChain: [pki.otherUser.certPem], keyPem: pki.otherUser.keyPem }, USER_DN), ERR.SEC_NOT_AUTHORIZED);
  });

  it("refuses a retriever not in the policy, audits it, and leaves the key usable", async () => {
    const req = await keyFor();
    await expectCode(() => otherOnPilotWire.retrieve(req), ERR.SEC_NOT_AUTHORIZED);
    const audit = await new AuditLog(redis, names).recent(20);
    expect(audit.some((e) => e.event === "credential-retriever-refused" && e.fields.caller === OTHER_USER_DN)).toBe(true);
    expect((await pilotClient.retrieve(req)).proxyPem).toContain("PRIVATE KEY");
  });

  it("refuses a one-time key used twice and audits the second use", async () => {
    const req = await keyFor();
    await pilotClient.retrieve(req);
    await expectCode(() => pilotClient.retrieve(req), ERR.SEC_KEY_REUSED);
    const audit = await new AuditLog(redis, names).recent(20);
    expect(audit.some((e) => e.event === "one-time-key-reused" && e.fields.jobId === req.jobId)).toBe(true);
    const forJob = published.filter((r) => r.jobId === req.jobId).map((r) => r.event);
    expect(forJob).toEqual(["credential-retrieval", "key-reuse"]);
    for (const r of published) AuditRecord.parse(r);
  });

  it("refuses a key minted for another user or another job", async () => {
    const forOther = await keyFor({ userDn: OTHER_USER_DN });
    await expectCode(() => pilotClient.retrieve({ ...forOther, userDn: USER_DN }), ERR.SEC_KEY_INVALID);
    const forJob = await keyFor();
    await expectCode(() => pilotClient.retrieve({ ...forJob, jobId: "someone-elses-job" }), ERR.SEC_KEY_INVALID);
  });

  it("renews within the job's allowance and refuses beyond it", async () => {
    const req = await keyFor();
    await pilotClient.retrieve(req);
    expect((await pilotClient.renew(req)).renewalsLeft).toBe(0);
    await expectCode(() => pilotClient.renew(req), ERR.SEC_RENEWAL_EXHAUSTED);
  });

  it("refuses with 2400 a delegation under another user's name, and audits it", async () => {
    const john = { certChain: [pki.otherUser.certPem], keyPem: pki.otherUser.keyPem };
    await expectCode(() => userClient.delegate(john, { retrievers: ["role:pilot"], userDn: USER_DN, lifetimeSec: 3600 }), ERR.MYPROXY_DN_MISMATCH);
    const audit = await new AuditLog(redis, names).recent(20);
    expect(audit.some((e) => e.event === "credential-dn-mismatch" && e.fields.credentialDn === OTHER_USER_DN)).toBe(true);
    // The victim's stored proxy is untouched.
    expect(verifyChain(splitPems((await pilotClient.retrieve(await keyFor())).proxyPem), pki.trust).dn).toBe(USER_DN);
  });

  it("refuses a delegation from a certificate of another CA", async () => {
    const foreign = { certChain: [pki.foreignUser.certPem], keyPem: pki.foreignUser.keyPem };
    await expectCode(() => userClient.delegate(foreign, { retrievers: ["role:pilot"], userDn: USER_DN, lifetimeSec: 3600 }), ERR.SEC_UNTRUSTED_CA);
  });

  it("answers 2302 CREDENTIAL_NOT_STORED (not retryable) when the user never delegated", async () => {
    const req = await keyFor({ userDn: OTHER_USER_DN });
    await expectCode(() => pilotClient.retrieve(req), ERR.CREDENTIAL_NOT_STORED);
  });

  it("keeps no private key or proxy in clear in Redis", async () => {
    const keyBody = userProxy.keyPem.split("\n")[1] as string;
    // Strings: one-time keys, sealing-key delegations (which carry service certificates), delegation requests in flight.
    const { hashes, strings } = await storedValues(redis, names.redisPrefix);
    const text = hashes.join("\n");
    expect(text).toContain(USER_DN);
    expect(text).not.toContain("BEGIN CERTIFICATE");
    for (const t of [text, strings.join("\n")]) {
      expect(t).not.toContain("PRIVATE KEY");
      expect(t).not.toContain(keyBody);
    }
  });

  it("answers bad input on the wire with an error code and changes nothing", async () => {
    const before = await namespaceKeys(redis, names.redisPrefix);
    // Each subject from an identity that may publish it: retrievals come from pilots, delegations and info from users.
    for (const [from, subject, payload] of [
      [pilotNc, names.subjects.credRetrieve, "not json"],
      [userNc, names.subjects.credDelegate, JSON.stringify({ schemaVersion: SCHEMA_VERSION, body: "{}", signature: "x".repeat(20), certChain: ["y".repeat(80)] })],
      [userNc, names.subjects.credInfo, JSON.stringify({ op: "certificate", extra: 1 })],
    ] as const) {
      const reply = CredReply.parseJson((await from.request(subject, new TextEncoder().encode(payload), { timeout: 15_000 })).data);
      expect(reply.status).toBe("error");
      if (reply.status === "error") expect(reply.code).toBe(ERR.BAD_INPUT);
    }
    expect(await namespaceKeys(redis, names.redisPrefix)).toEqual(before);
  });

  it("audits a flood of refused retrievals at most REFUSAL_AUDITS_PER_MINUTE a minute, answers each, and still serves", async () => {
    // What a payload on the pilot identity can send by the thousand, each request one NATS message
    // it signs itself: John's (not in the policy), a pilot's for jobs it does not hold, a pilot's
    // spent key presented again for another key pair. Each is refused; none may push the older
    // events out of the capped audit stream, nor flood the audit queue.
    const cacheCert = readServiceCredentials(pki.dir, "credentials").certPem;
    const { csrPem } = await createProxyRequest({ keyBits: BITS });
    const spent = await keyFor();
    await pilotClient.retrieve(spent);
    const live = await keyFor();
    const audit = new AuditLog(redis, names);
    const auditedBefore = (await audit.recent(AUDIT_READ)).length;
    const publishedBefore = published.length;
    const FLOOD = 300;
    const asked = (i: number): { from: { certPem: string; keyPem: string }; body: Record<string, unknown>; code: number } => {
      const base = { schemaVersion: SCHEMA_VERSION, op: "retrieve", userDn: USER_DN, attempt: 1, csr: csrPem, issuedAt: Date.now() + i };
      if (i % 3 === 0) return { from: pki.otherUser, body: { ...base, jobId: live.jobId, pilotId: live.pilotId, oneTimeKey: encryptToCertificate(cacheCert, live.oneTimeKey) }, code: ERR.SEC_NOT_AUTHORIZED };
      if (i % 3 === 1) return { from: pki.pilot, body: { ...base, jobId: `no-such-job-${i}`, pilotId: "pilot-1", oneTimeKey: encryptToCertificate(cacheCert, live.oneTimeKey) }, code: ERR.SEC_KEY_INVALID };
      return { from: pki.pilot, body: { ...base, jobId: spent.jobId, pilotId: spent.pilotId, oneTimeKey: encryptToCertificate(cacheCert, spent.oneTimeKey) }, code: ERR.SEC_KEY_REUSED };
    };
    for (let start = 0; start < FLOOD; start += 25) {
      await Promise.all(
        Array.from({ length: 25 }, async (_, k) => {
          const { from, body, code } = asked(start + k);
          const text = JSON.stringify(body);
          const request = { schemaVersion: SCHEMA_VERSION, body: text, signature: signData(text, from.keyPem), certChain: [from.certPem] };
          const reply = CredReply.parseJson((await pilotNc.request(names.subjects.credRetrieve, new TextEncoder().encode(JSON.stringify(request)), { timeout: 15_000 })).data);
          expect(reply).toMatchObject({ status: "error", code });
        }),
      );
    }
    // Counted per cache process and minute: a test running across a minute's turn sees two windows.
    const audited = (await audit.recent(AUDIT_READ)).length - auditedBefore;
    expect(audited).toBeGreaterThan(0);
    expect(audited).toBeLessThanOrEqual(2 * REFUSAL_AUDITS_PER_MINUTE);
    const refusalRecords = published.slice(publishedBefore).filter((r) => r.event !== "credential-retrieval");
    expect(refusalRecords.length).toBeGreaterThan(0);
    expect(refusalRecords.length).toBeLessThanOrEqual(2 * REFUSAL_AUDITS_PER_MINUTE);
    // The live key was not burnt by John's or the others' requests, and the cache still serves.
    expect((await pilotClient.retrieve(live)).proxyPem).toContain("PRIVATE KEY");
  }, 120_000);

  it("refuses to start without an encryption key", async () => {
    await expectCode(
      () => startCredentialCache({ nc, redis, names, config: { ...config, credentials: { ...config.credentials, encryptionKey: undefined } }, trust: pki.trust }),
      ERR.BAD_CONFIG,
    );
  });
});

