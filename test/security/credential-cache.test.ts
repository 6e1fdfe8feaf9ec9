import { randomBytes } from "node:crypto";
import type { NatsConnection } from "nats";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openNats, openRedis } from "../../platform/connections.ts";
import { AuditRecord, ERR, SCHEMA_VERSION, CredReply, type WmsConfig } from "../../schemas/index.ts";
import { AuditLog, createProxy, ONE_TIME_KEY_SEAL_PURPOSE, OneTimeKeyStore, ServiceSealer, splitPems, verifyChain, type ProxyCredential, pkiSealKeys } from "../../security/index.ts";
import { CredentialClient, startCredentialCache, type CredentialCache } from "../../agents/credentials/index.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { BITS, buildPki, expectCode, OTHER_USER_DN, USER_DN, type PkiFixture } from "./support/pki-fixture.ts";

const { config: base, names } = testConfig("credcache");
const config: WmsConfig = { ...base, credentials: { ...base.credentials, encryptionKey: randomBytes(32).toString("base64"), maxRenewals: 1 } };
let pki: PkiFixture;
let nc: NatsConnection;
let redis: Redis;
let cache: CredentialCache;
let userProxy: ProxyCredential;
let pilotClient: CredentialClient;
let otherClient: CredentialClient;
let userClient: CredentialClient;
let keys: OneTimeKeyStore;
/** The job state owner's answer, per job: these tests hold each job's attempt 1 running on pilot-1. */
const SITE = "SITE_A";
const liveJobs = new Map<string, { state: string; attempt: number; pilotId: string; site: string }>();
/** The audit records the cache hands to its report sink (RabbitMQ's ReportPublisher in `wms credentials serve`). */
const published: AuditRecord[] = [];

beforeAll(async () => {
  pki = buildPki();
  nc = await openNats(config, "test-credcache");
  redis = openRedis(config);
  cache = startCredentialCache({
    nc,
    redis,
    names,
    config: { ...config, pki: { dir: pki.dir } },
    trust: pki.trust,
    reports: { publish: async (r) => void published.push(r) },
    jobs: { attemptOf: async (jobId) => liveJobs.get(jobId) },
  });
  userProxy = createProxy({ certPem: pki.user.certPem, keyPem: pki.user.keyPem, lifetimeSec: 3600, keyBits: BITS });
  userClient = new CredentialClient(nc, names, { trust: pki.trust });
  pilotClient = new CredentialClient(nc, names, { trust: pki.trust, caller: { certChain: [pki.pilot.certPem], keyPem: pki.pilot.keyPem } });
  otherClient = new CredentialClient(nc, names, { trust: pki.trust, caller: { certChain: [pki.otherUser.certPem], keyPem: pki.otherUser.keyPem } });
  const sealer = new ServiceSealer(pkiSealKeys(pki.dir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE);
  keys = new OneTimeKeyStore(redis, names, { maxRenewals: 1, sealer });
  await userClient.delegate(userProxy, { retrievers: ["role:pilot"] });
});

afterAll(async () => {
  await cache.stop();
  await nc.close();
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  pki.cleanup();
});

let jobSeq = 0;
async function keyFor(over: Partial<{ userDn: string; jobId: string; pilotId: string }> = {}): Promise<{ oneTimeKey: string; userDn: string; jobId: string; pilotId: string; attempt: number }> {
  const b = { userDn: USER_DN, jobId: `job-${++jobSeq}`, pilotId: "pilot-1", attempt: 1, ...over };
  liveJobs.set(b.jobId, { state: "running", attempt: 1, pilotId: b.pilotId, site: SITE });
  return { ...b, oneTimeKey: await keys.mint({ ...b, site: SITE, ttlSec: 60 }) };
}

describe("credential cache", () => {
  it("releases the delegated proxy to a pilot with the job's one-time key, encrypted to that pilot", async () => {
    const got = await pilotClient.retrieve(await keyFor());
    const chain = splitPems(got.proxyPem);
    expect(got.proxyPem).toContain("PRIVATE KEY");
    expect(verifyChain(chain, pki.trust).dn).toBe(USER_DN);
    expect(got.notAfter).toBeGreaterThan(Date.now());
  });

  it("reports username, owner, retrieval policy and time left to the owner only", async () => {
    const info = await userClient.info({ certChain: userProxy.chain, keyPem: userProxy.keyPem });
    expect(info).toMatchObject({ found: true, username: USER_DN, owner: USER_DN, retrievers: ["role:pilot"] });
    expect(info.timeLeftSec).toBeGreaterThan(3000);
    await expectCode(() => otherClient.info({ certChain: [pki.otherUser.certPem], keyPem: pki.otherUser.keyPem }, USER_DN), ERR.SEC_NOT_AUTHORIZED);
  });

  it("refuses a retriever not in the policy, audits it, and leaves the key usable", async () => {
    const req = await keyFor();
    await expectCode(() => otherClient.retrieve(req), ERR.SEC_NOT_AUTHORIZED);
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
    const p = createProxy({ certPem: pki.otherUser.certPem, keyPem: pki.otherUser.keyPem, lifetimeSec: 3600, keyBits: BITS });
    await expectCode(() => userClient.delegate(p, { retrievers: ["role:pilot"], userDn: USER_DN }), ERR.MYPROXY_DN_MISMATCH);
    const audit = await new AuditLog(redis, names).recent(20);
    expect(audit.some((e) => e.event === "credential-dn-mismatch" && e.fields.credentialDn === OTHER_USER_DN)).toBe(true);
    // The victim's stored proxy is untouched.
    expect(verifyChain(splitPems((await pilotClient.retrieve(await keyFor())).proxyPem), pki.trust).dn).toBe(USER_DN);
  });

  it("refuses a delegation from a certificate of another CA", async () => {
    const p = createProxy({ certPem: pki.foreignUser.certPem, keyPem: pki.foreignUser.keyPem, lifetimeSec: 3600, keyBits: BITS });
    await expectCode(() => userClient.delegate(p, { retrievers: ["role:pilot"], userDn: USER_DN }), ERR.SEC_UNTRUSTED_CA);
  });

  it("refuses to store a long-lived certificate's key instead of a proxy", async () => {
    const eec = { certPem: pki.otherUser.certPem, keyPem: pki.otherUser.keyPem, chain: [pki.otherUser.certPem] };
    await expectCode(() => userClient.delegate(eec, { retrievers: ["role:pilot"] }), ERR.MYPROXY_DELEGATION_FAILED);
  });

  it("answers 2302 CREDENTIAL_NOT_STORED (not retryable) when the user never delegated", async () => {
    const req = await keyFor({ userDn: OTHER_USER_DN });
    await expectCode(() => pilotClient.retrieve(req), ERR.CREDENTIAL_NOT_STORED);
  });

  it("keeps no private key or proxy in clear in Redis", async () => {
    const keyBody = userProxy.keyPem.split("\n")[1] as string;
    const dump: string[] = [];
    for (const k of await redis.keys(`${names.redisPrefix}*`)) {
      if ((await redis.type(k)) === "hash") dump.push(...Object.values(await redis.hgetall(k)));
    }
    const text = dump.join("\n");
    expect(text).toContain(USER_DN);
    expect(text).not.toContain("PRIVATE KEY");
    expect(text).not.toContain(keyBody);
    expect(text).not.toContain("BEGIN CERTIFICATE");
  });

  it("answers bad input on the wire with an error code and changes nothing", async () => {
    const before = (await redis.keys(`${names.redisPrefix}*`)).sort();
    for (const [subject, payload] of [
      [names.subjects.credRetrieve, "not json"],
      [names.subjects.credDelegate, JSON.stringify({ schemaVersion: SCHEMA_VERSION, body: "{}", signature: "x".repeat(20), certChain: ["y".repeat(80)] })],
      [names.subjects.credInfo, JSON.stringify({ op: "certificate", extra: 1 })],
    ] as const) {
      const reply = CredReply.parseJson((await nc.request(subject, new TextEncoder().encode(payload), { timeout: 5000 })).data);
      expect(reply.status).toBe("error");
      if (reply.status === "error") expect(reply.code).toBe(ERR.BAD_INPUT);
    }
    expect((await redis.keys(`${names.redisPrefix}*`)).sort()).toEqual(before);
  });

  it("refuses to start without an encryption key", async () => {
    await expectCode(
      () => startCredentialCache({ nc, redis, names, config: { ...config, credentials: { ...config.credentials, encryptionKey: undefined } }, trust: pki.trust }),
      ERR.BAD_CONFIG,
    );
  });
});

