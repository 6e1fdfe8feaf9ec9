// A pilot's credential retrieval through an outage of the cache's Redis (cut by a TCP proxy, as a
// restart or a network blip would; the shared server is never touched): the pilot asks again with
// the same request instead of giving its job back at the first E1003, and a key whose answer was
// lost is granted again to the same key pair only, never to another.
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialClient, RETRIEVE_RETRY_MS, startCredentialCache, type CredentialCache } from "../../agents/credentials/index.ts";
import { openRedis } from "../../platform/connections.ts";
import type { RedisClient } from "../../platform/redis-client.ts";
import { ERR, type WmsConfig } from "../../schemas/index.ts";
import { createProxy, ONE_TIME_KEY_SEAL_PURPOSE, OneTimeKeyStore, pkiSealKeys, SealVerifier, ServiceSealer, splitPems, verifyChain } from "../../security/index.ts";
import { openNatsAs, openRedisAs } from "../support/live-services.ts";
import { testConfig } from "../support/namespace.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { asRole } from "../support/test-roles.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";
import { BITS, buildPki, expectCode, USER_DN, type PkiFixture } from "./support/pki-fixture.ts";

const loaded = testConfig("credoutage");
const { names } = loaded;
const SITE = "SITE_A";
let pki: PkiFixture;
let config: WmsConfig;
let proxy: TcpProxy;
/** The cache's Redis, through the proxy; the matchmaker's, direct. */
let cacheRedis: RedisClient;
let mmRedis: RedisClient;
let cacheNc: NatsConnection;
let userNc: NatsConnection;
let pilotNc: NatsConnection;
let cache: CredentialCache;
let pilot: CredentialClient;
let minting: OneTimeKeyStore;
const liveJobs = new Map<string, { state: string; attempt: number; pilotId: string; site: string }>();

beforeAll(async () => {
  pki = buildPki();
  const cacheRole = asRole(loaded, "credentials").config;
  config = { ...cacheRole, pki: { ...cacheRole.pki, dir: pki.dir }, credentials: { ...cacheRole.credentials, encryptionKey: randomBytes(32).toString("base64"), maxRenewals: 1, proxyKeyBits: BITS } };
  const target = new URL(config.redis.url);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 6379));
  const viaProxy = new URL(config.redis.url);
  viaProxy.port = String(proxy.port);
  cacheRedis = openRedis({ ...config, redis: { ...config.redis, url: viaProxy.toString() } });
  mmRedis = openRedisAs(loaded, "matchmaker");
  cacheNc = await openNatsAs(loaded, "credentials", "test-credoutage");
  userNc = await openNatsAs(loaded, "operator", "test-credoutage-user");
  pilotNc = await openNatsAs(loaded, "pilot", "test-credoutage-pilot");
  cache = startCredentialCache({ nc: cacheNc, redis: cacheRedis, names, config, trust: pki.trust, jobs: { attemptOf: async (jobId) => liveJobs.get(jobId) } });
  await cache.ready;
  const userProxy = createProxy({ certPem: pki.user.certPem, keyPem: pki.user.keyPem, lifetimeSec: 3600, keyBits: BITS });
  await new CredentialClient(userNc, names, { trust: pki.trust }).delegate({ certChain: userProxy.chain, keyPem: userProxy.keyPem }, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
  pilot = new CredentialClient(pilotNc, names, { trust: pki.trust, caller: { certChain: [pki.pilot.certPem], keyPem: pki.pilot.keyPem }, proxyKeyBits: BITS });
  minting = new OneTimeKeyStore(mmRedis, names, { maxRenewals: 1, sealer: new ServiceSealer(pkiSealKeys(pki.dir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE) });
});

afterAll(async () => {
  await cache?.stop();
  await Promise.all([cacheNc, userNc, pilotNc].map((c) => c?.close()));
  if (mmRedis) await deleteNamespaceKeys(mmRedis, names.namespace);
  cacheRedis?.disconnect();
  mmRedis?.disconnect();
  await proxy?.stop();
  pki?.cleanup();
});

let seq = 0;
async function keyFor(): Promise<{ oneTimeKey: string; userDn: string; jobId: string; pilotId: string; attempt: number }> {
  const b = { userDn: USER_DN, jobId: `job-${++seq}`, pilotId: "pilot-1", attempt: 1 };
  liveJobs.set(b.jobId, { state: "starting", attempt: 1, pilotId: b.pilotId, site: SITE });
  return { ...b, oneTimeKey: await minting.mint({ ...b, site: SITE, ttlSec: 60 }) };
}

describe("credential retrieval through an outage", () => {
  it("gets the proxy once the cache's Redis is back after a blip of a second, instead of failing the job with E1003", async () => {
    const req = await keyFor();
    await proxy.stop();
    const started = Date.now();
    const got = pilot.retrieve(req);
    // The cache answers E1003 while its Redis is away (ioredis gives up on a command after 3 reconnections).
    await new Promise((r) => setTimeout(r, 1500));
    await proxy.start();
    const proxyPem = (await got).proxyPem;
    expect(verifyChain(splitPems(proxyPem), pki.trust).dn).toBe(USER_DN);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  it("grants a spent key again only to the binding and key pair it was spent for (an answer lost on the way)", async () => {
    const { oneTimeKey, ...b } = await keyFor();
    const binding = { ...b, site: SITE };
    const cacheSide = new OneTimeKeyStore(mmRedis, names, { maxRenewals: 1, verifier: new SealVerifier(pkiSealKeys(pki.dir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE) });
    expect((await cacheSide.consume(oneTimeKey, binding, "key-pair-a")).renewalsLeft).toBe(1);
    // Asked again for the same key pair: the same grant, no renewal spent.
    expect((await cacheSide.consume(oneTimeKey, binding, "key-pair-a")).renewalsLeft).toBe(1);
    // Another key pair, no key pair, or another pilot with the same key pair: a reuse.
    await expectCode(() => cacheSide.consume(oneTimeKey, binding, "key-pair-b"), ERR.SEC_KEY_REUSED);
    await expectCode(() => cacheSide.consume(oneTimeKey, binding), ERR.SEC_KEY_REUSED);
    await expectCode(() => cacheSide.consume(oneTimeKey, { ...binding, pilotId: "pilot-2" }, "key-pair-a"), ERR.SEC_KEY_REUSED);
  });

  it("still refuses, without asking again, what no retry can change (a stale attempt)", async () => {
    const req = await keyFor();
    liveJobs.set(req.jobId, { state: "activated", attempt: 2, pilotId: "pilot-1", site: SITE });
    const started = Date.now();
    await expectCode(() => pilot.retrieve(req), ERR.SEC_KEY_INVALID);
    // Well under the time it asks again through an outage (a loaded machine takes seconds per retrieval).
    expect(Date.now() - started).toBeLessThan(RETRIEVE_RETRY_MS / 2);
  });
});
