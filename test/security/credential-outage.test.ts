// A pilot's credential retrieval through an outage of the cache's Redis (cut by a TCP proxy, as a
// restart or a network blip would; the shared server is never touched): the pilot asks again with
// the same request instead of giving its job back at the first E1003, and a key whose answer was
// lost is granted again to the same key pair only, never to another.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialClient, RETRIEVE_RETRY_MS } from "../../agents/credentials/index.ts";
import { openRedis } from "../../platform/connections.ts";
import { ERR } from "../../schemas/index.ts";
import { ONE_TIME_KEY_SEAL_PURPOSE, OneTimeKeyStore, pkiSealKeys, SealVerifier, splitPems, verifyChain } from "../../security/index.ts";
import { testConfig } from "../support/namespace.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";
import { startCredentialStage, STAGE_SITE, type CredentialStage, type MintedKey } from "./support/credential-stage.ts";
import { BITS, expectCode, USER_DN } from "./support/pki-fixture.ts";

const loaded = testConfig("credoutage");
const { names } = loaded;
const SITE = STAGE_SITE;
/** The cache's Redis goes through this proxy; the matchmaker's is direct. */
let proxy: TcpProxy;
let stage: CredentialStage;
let pilot: CredentialClient;
const liveJobs = new Map<string, { state: string; attempt: number; pilotId: string; site: string }>();

beforeAll(async () => {
  const target = new URL(loaded.config.redis.url);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 6379));
  stage = await startCredentialStage(loaded, "credoutage", {
    jobs: { attemptOf: async (jobId) => liveJobs.get(jobId) },
    cacheRedis: (config) => {
      const viaProxy = new URL(config.redis.url);
      viaProxy.port = String(proxy.port);
      return openRedis({ ...config, redis: { ...config.redis, url: viaProxy.toString() } });
    },
  });
  const { pki } = stage;
  pilot = new CredentialClient(stage.pilotNc, names, { trust: pki.trust, caller: { certChain: [pki.pilot.certPem], keyPem: pki.pilot.keyPem }, proxyKeyBits: BITS });
});

afterAll(async () => {
  await stage?.stop();
  await proxy?.stop();
});

let seq = 0;
async function keyFor(): Promise<MintedKey> {
  const k = await stage.mint(`job-${++seq}`);
  liveJobs.set(k.jobId, { state: "starting", attempt: 1, pilotId: k.pilotId, site: SITE });
  return k;
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
    expect(verifyChain(splitPems(proxyPem), stage.pki.trust).dn).toBe(USER_DN);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  it("grants a spent key again only to the binding and key pair it was spent for (an answer lost on the way)", async () => {
    const { oneTimeKey, ...b } = await keyFor();
    const binding = { ...b, site: SITE };
    const cacheSide = new OneTimeKeyStore(stage.mmRedis, names, { maxRenewals: 1, verifier: new SealVerifier(pkiSealKeys(stage.pki.dir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE) });
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
