// Attacks on MyProxy-style delegation, against the real credential cache: the wire of a proxy
// init carries no private key, a retrieval never yields the stored proxy's key, a delegation
// cannot be finished with a proxy for another key, by another user, or twice, a request for the
// stored proxy's own public key is refused, and a rogue responder posing as the cache gets no proxy.
// Each party on its own transport identity: the cache as credentials, Jane and John delegating with
// their `wms` (operator role), retrievals on the pilots' identity, one-time keys minted by the
// matchmaker. The rogue responder holds the cache's NATS identity (only it may answer there) but
// not the cache's signing key.
import { createPublicKey, randomBytes } from "node:crypto";
import forge from "node-forge";
import type { NatsConnection, Subscription } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredReply, ERR, SCHEMA_VERSION, type CredSignedRequest, type WmsConfig } from "../../schemas/index.ts";
import {
  createProxyRequest,
  CredentialKeyring,
  decryptWithKey,
  encryptToCertificate,
  issueCertificate,
  issueProxy,
  ONE_TIME_KEY_SEAL_PURPOSE,
  OneTimeKeyStore,
  pkiSealKeys,
  readServiceCredentials,
  ServiceSealer,
  signData,
  splitPems,
} from "../../security/index.ts";
import { CredentialClient, startCredentialCache, type CallerCredential, type CredentialCache } from "../../agents/credentials/index.ts";
import { MAX_DELEGATIONS_BEGUN } from "../../agents/credentials/credential-cache.ts";
import { CredentialRecords } from "../../agents/credentials/credential-records.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { openNatsAs, openRedisAs } from "../support/live-services.ts";
import { testAuth } from "../support/test-roles.ts";
import { namespaceKeys } from "./support/redis-values.ts";
import { BITS, buildPki, expectCode, OTHER_USER_DN, USER_DN, type PkiFixture } from "./support/pki-fixture.ts";

const loaded = testConfig("attackdeleg");
const { config: base, names } = loaded;
const config: WmsConfig = { ...base, credentials: { ...base.credentials, encryptionKey: randomBytes(32).toString("base64"), proxyKeyBits: BITS } };
let pki: PkiFixture;
/** The cache's connections. */
let nc: NatsConnection;
let redis: RedisClient;
/** Users' `wms` (operator role), pilots, another holder of the cache's NATS identity; the matchmaker's Redis. */
let userNc: NatsConnection;
let pilotNc: NatsConnection;
let cacheIdNc: NatsConnection;
let mmRedis: RedisClient;
let cache: CredentialCache;
let keys: OneTimeKeyStore;
let jane: CallerCredential;
let john: CallerCredential;
let pilot: CallerCredential;
const SITE = "SITE_A";
const liveJobs = new Map<string, { state: string; attempt: number; pilotId: string; site: string }>();
const enc = new TextEncoder();

beforeAll(async () => {
  pki = buildPki();
  nc = await openNatsAs(loaded, "credentials", "test-attack-delegation");
  redis = openRedisAs(loaded, "credentials");
  userNc = await openNatsAs(loaded, "operator", "test-attack-delegation-user");
  pilotNc = await openNatsAs(loaded, "pilot", "test-attack-delegation-pilot");
  cacheIdNc = await openNatsAs(loaded, "credentials", "test-attack-delegation-rogue");
  mmRedis = openRedisAs(loaded, "matchmaker");
  cache = startCredentialCache({ nc, redis, names, config: { ...config, pki: { dir: pki.dir } }, trust: pki.trust, jobs: { attemptOf: async (id) => liveJobs.get(id) } });
  // Its subscriptions are in place before anything asks it (under load a request could find no responder).
  await cache.ready;
  const sealer = new ServiceSealer(pkiSealKeys(pki.dir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE);
  keys = new OneTimeKeyStore(mmRedis, names, { maxRenewals: 1, sealer });
  jane = { certChain: [pki.user.certPem], keyPem: pki.user.keyPem };
  john = { certChain: [pki.otherUser.certPem], keyPem: pki.otherUser.keyPem };
  pilot = { certChain: [pki.pilot.certPem], keyPem: pki.pilot.keyPem };
});

afterAll(async () => {
  await cache?.stop();
  await Promise.all([nc, userNc, pilotNc, cacheIdNc].map((c) => c?.close()));
  await deleteNamespaceKeys(redis, names.namespace);
  redis?.disconnect();
  mmRedis?.disconnect();
  pki?.cleanup();
});

/**
 * A signed request as the client builds it, sent raw, so a test sees (and can bend) every byte:
 * retrievals on the pilots' identity, delegations on the users'.
 */
async function raw(subject: string, caller: CallerCredential, body: Record<string, unknown>): Promise<{ bytes: string; reply: CredReply }> {
  const text = JSON.stringify({ schemaVersion: SCHEMA_VERSION, issuedAt: Date.now(), ...body });
  const req: CredSignedRequest = { schemaVersion: SCHEMA_VERSION, body: text, signature: signData(text, caller.keyPem), certChain: [...caller.certChain] };
  const from = subject === names.subjects.credRetrieve ? pilotNc : userNc;
  const msg = await from.request(subject, enc.encode(JSON.stringify(req)), { timeout: 10_000 });
  const bytes = new TextDecoder().decode(msg.data);
  return { bytes, reply: CredReply.parseJson(msg.data) };
}

function spki(pem: string): Buffer {
  return createPublicKey(pem).export({ type: "spki", format: "der" });
}

const keyBody = (pem: string): string => pem.split("\n").slice(1, -2).join("");

let seq = 0;
async function retrieval(userDn = USER_DN): Promise<{ oneTimeKey: string; userDn: string; jobId: string; pilotId: string; attempt: number }> {
  const b = { userDn, jobId: `deleg-${++seq}`, pilotId: "pilot-1", attempt: 1 };
  liveJobs.set(b.jobId, { state: "running", attempt: 1, pilotId: b.pilotId, site: SITE });
  return { ...b, oneTimeKey: await keys.mint({ ...b, site: SITE, ttlSec: 60 }) };
}

function codeOf(reply: CredReply): number | undefined {
  return reply.status === "error" ? reply.code : undefined;
}

describe("delegation without moving private keys", () => {
  it("a proxy init sends no private key: its wire messages hold certificates and signatures only", async () => {
    const seen: string[] = [];
    // What reaches the cache, seen by a second holder of its identity (no other role may listen there).
    const tap: Subscription = cacheIdNc.subscribe(names.subjects.credDelegate, { callback: (_e, m) => seen.push(new TextDecoder().decode(m.data)) });
    await cacheIdNc.flush();
    await new CredentialClient(userNc, names, { trust: pki.trust }).delegate(jane, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
    await cacheIdNc.flush();
    tap.unsubscribe();
    expect(seen).toHaveLength(2);
    const cacheKey = readServiceCredentials(pki.dir, "credentials").keyPem;
    for (const text of seen) {
      expect(text).not.toContain("PRIVATE KEY");
      expect(text).not.toContain(keyBody(jane.keyPem));
      const body = JSON.parse((JSON.parse(text) as { body: string }).body) as Record<string, unknown>;
      // Nothing in it is a secret for the cache either: no field decrypts with the cache's key (the old protocol sent the proxy key that way).
      for (const v of Object.values(body)) {
        if (typeof v === "string" && v.length >= 16) expect(() => decryptWithKey(cacheKey, v)).toThrow();
      }
    }
    const finish = JSON.parse((JSON.parse(seen[1] as string) as { body: string }).body) as { op: string; proxyChain: string[] };
    expect(finish.op).toBe("delegate");
    // The delegated proxy is for a key the cache made and kept: the one sealed in its record.
    const stored = await new CredentialRecords(redis, names, new CredentialKeyring(config.credentials)).get(USER_DN);
    expect(spki(stored?.proxy.keyPem as string).equals(spki(finish.proxyChain[0] as string))).toBe(true);
    expect(spki(stored?.proxy.keyPem as string).equals(spki(jane.keyPem))).toBe(false);
  });

  it("a retrieval never yields the stored proxy's private key: the reply holds none, and the proxy is for the pilot's own key", async () => {
    const stored = await new CredentialRecords(redis, names, new CredentialKeyring(config.credentials)).get(USER_DN);
    const storedKey = stored?.proxy.keyPem as string;
    const cacheCert = readServiceCredentials(pki.dir, "credentials").certPem;
    const own = await createProxyRequest({ keyBits: BITS });
    const req = await retrieval();
    const { bytes, reply } = await raw(names.subjects.credRetrieve, pilot, { op: "retrieve", userDn: req.userDn, jobId: req.jobId, pilotId: req.pilotId, attempt: 1, oneTimeKey: encryptToCertificate(cacheCert, req.oneTimeKey), csr: own.csrPem });
    expect(reply).toMatchObject({ status: "ok", op: "retrieve" });
    expect(bytes).not.toContain("PRIVATE KEY");
    expect(bytes).not.toContain(keyBody(storedKey));
    if (reply.status !== "ok" || reply.op !== "retrieve") throw new Error("no retrieval");
    expect(spki(reply.proxyChain[0] as string).equals(spki(own.keyPem))).toBe(true);
    // Through the client, as the pilot does it: the key in the X509_USER_PROXY text is never the stored one.
    const got = await new CredentialClient(pilotNc, names, { trust: pki.trust, caller: pilot, proxyKeyBits: BITS }).retrieve(await retrieval());
    const fileKey = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(got.proxyPem)?.[0] as string;
    expect(spki(fileKey).equals(spki(storedKey))).toBe(false);
    expect(got.proxyPem).not.toContain(keyBody(storedKey));
    expect(splitPems(got.proxyPem)).toHaveLength(3);
  });

  it("refuses a request for the stored proxy's own public key that its sender cannot sign, and keeps the one-time key", async () => {
    const stored = await new CredentialRecords(redis, names, new CredentialKeyring(config.credentials)).get(USER_DN);
    const cacheCert = readServiceCredentials(pki.dir, "credentials").certPem;
    // A PKCS#10 request naming the stored proxy's public key, signed with some other key.
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = forge.pki.publicKeyFromPem(createPublicKey(stored?.proxy.keyPem as string).export({ type: "spki", format: "pem" }).toString());
    csr.setSubject([{ name: "commonName", value: "steal" }]);
    csr.sign(forge.pki.privateKeyFromPem(pki.pilot.keyPem), forge.md.sha256.create());
    const req = await retrieval();
    const body = { op: "retrieve", userDn: req.userDn, jobId: req.jobId, pilotId: req.pilotId, attempt: 1, oneTimeKey: encryptToCertificate(cacheCert, req.oneTimeKey) };
    expect(codeOf((await raw(names.subjects.credRetrieve, pilot, { ...body, csr: forge.pki.certificationRequestToPem(csr) })).reply)).toBe(ERR.BAD_INPUT);
    // The refused request did not spend the key.
    const own = await createProxyRequest({ keyBits: BITS });
    expect((await raw(names.subjects.credRetrieve, pilot, { ...body, csr: own.csrPem })).reply).toMatchObject({ status: "ok" });
  });

  it("refuses to finish a delegation with a proxy for another key, by another user, or a second time", async () => {
    const begin = async (who: CallerCredential): Promise<{ requestId: string; csr: string }> => {
      const r = (await raw(names.subjects.credDelegate, who, { op: "delegate-begin" })).reply;
      if (r.status !== "ok" || r.op !== "delegate-begin") throw new Error(`begin failed: ${JSON.stringify(r)}`);
      return r;
    };
    const finish = (who: CallerCredential, requestId: string, proxyChain: string[]): Promise<{ reply: CredReply }> =>
      raw(names.subjects.credDelegate, who, { op: "delegate", requestId, retrievers: ["role:pilot"], proxyChain });
    const sign = (who: CallerCredential, publicKeyPem: string): string[] => issueProxy({ certPem: who.certChain[0] as string, keyPem: who.keyPem, lifetimeSec: 3600 }, publicKeyPem);

    // A proxy for a key John made himself (so he would hold the stored proxy's key): refused.
    const a = await begin(john);
    const johnsKey = await createProxyRequest({ keyBits: BITS });
    expect(codeOf((await finish(john, a.requestId, sign(john, createPublicKey(johnsKey.keyPem).export({ type: "spki", format: "pem" }).toString()))).reply)).toBe(ERR.MYPROXY_DELEGATION_FAILED);
    // Jane's request finished by John (with his own proxy for the cache's key): refused.
    const b = await begin(jane);
    const csrKey = forge.pki.publicKeyToPem(forge.pki.certificationRequestFromPem(b.csr).publicKey as forge.pki.rsa.PublicKey);
    expect(codeOf((await finish(john, b.requestId, sign(john, csrKey))).reply)).toBe(ERR.MYPROXY_DELEGATION_FAILED);
    // A request is finished once.
    const c = await begin(john);
    const cKey = forge.pki.publicKeyToPem(forge.pki.certificationRequestFromPem(c.csr).publicKey as forge.pki.rsa.PublicKey);
    expect((await finish(john, c.requestId, sign(john, cKey))).reply).toMatchObject({ status: "ok", op: "delegate", userDn: OTHER_USER_DN });
    expect(codeOf((await finish(john, c.requestId, sign(john, cKey))).reply)).toBe(ERR.MYPROXY_DELEGATION_FAILED);
  });

  it("gives a rogue responder posing as the cache no proxy: its certificate request lacks the cache's signature", async () => {
    const { names: rogueNames } = testConfig("rogue-cache");
    const cacheCert = readServiceCredentials(pki.dir, "credentials").certPem;
    const rogueKey = await createProxyRequest({ keyBits: BITS });
    const delegateMessages: string[] = [];
    /** Answers certificate and delegate-begin requests on ON, signing with the intake's key: not the cache's. */
    const pose = async (on: NatsConnection): Promise<Subscription[]> => {
      const subs = [
        on.subscribe(rogueNames.subjects.credInfo, {
          callback: (e, m) => {
            if (!e) m.respond(enc.encode(JSON.stringify({ schemaVersion: SCHEMA_VERSION, status: "ok", op: "certificate", cacheCert })));
          },
        }),
        on.subscribe(rogueNames.subjects.credDelegate, {
          callback: (e, m) => {
            if (e) return;
            delegateMessages.push(new TextDecoder().decode(m.data));
            const signature = signData(`rogue-1\n${rogueKey.csrPem}`, readServiceCredentials(pki.dir, "intake").keyPem);
            m.respond(enc.encode(JSON.stringify({ schemaVersion: SCHEMA_VERSION, status: "ok", op: "delegate-begin", requestId: "rogue-1", csr: rogueKey.csrPem, signature })));
          },
        }),
      ];
      await on.flush().catch(() => undefined);
      return subs;
    };
    const delegate = (): Promise<unknown> => new CredentialClient(userNc, rogueNames, { trust: pki.trust }).delegate(jane, { retrievers: ["role:pilot"], lifetimeSec: 3600 });

    if (testAuth()) {
      // With authentication on, a pilot or another user's `wms` cannot even listen there: Jane's
      // `wms proxy init` finds no cache, and nothing of hers reached them.
      const others = await Promise.all((["pilot", "operator"] as const).map((r) => openNatsAs(loaded, r, `test-attack-delegation-rogue-${r}`)));
      try {
        for (const o of others) await pose(o);
        await expectCode(delegate, ERR.SERVICE_UNAVAILABLE);
        expect(delegateMessages).toEqual([]);
      } finally {
        await Promise.all(others.map((o) => o.close()));
      }
    }
    // Whoever holds the cache's NATS identity can answer, but without the cache's key its request is refused.
    const subs = await pose(cacheIdNc);
    try {
      await expectCode(delegate, ERR.SEC_BAD_SIGNATURE);
      expect(delegateMessages).toHaveLength(1);
      expect(JSON.parse((JSON.parse(delegateMessages[0] as string) as { body: string }).body)).toMatchObject({ op: "delegate-begin" });
    } finally {
      for (const sub of subs) sub.unsubscribe();
    }
  });

  it("refuses a user's delegation begins past MAX_DELEGATIONS_BEGUN in five minutes before making a key pair, and not another user's", async () => {
    // Each begin made the cache an RSA key pair: a user's `wms` sending them in a loop starved the
    // pilots' retrievals. A user of its own, so the other tests' delegations do not count.
    const mallory = issueCertificate({ caDir: pki.dir, keyBits: BITS, kind: "user", dn: "/DC=org/DC=pilot-wms/OU=People/CN=Mallory Flood" });
    const caller = { certChain: [mallory.certPem], keyPem: mallory.keyPem };
    const pending = async (): Promise<number> => (await namespaceKeys(redis, names.redisPrefix)).filter((k) => k.startsWith(`${names.redisKey("credreq")}:`)).length;
    const begin = async (who: CallerCredential): Promise<CredReply> => (await raw(names.subjects.credDelegate, who, { op: "delegate-begin" })).reply;
    const before = await pending();
    const answers = await Promise.all(Array.from({ length: MAX_DELEGATIONS_BEGUN }, () => begin(caller)));
    expect(answers.every((r) => r.status === "ok")).toBe(true);
    expect(await pending()).toBe(before + MAX_DELEGATIONS_BEGUN);
    for (let i = 0; i < 3; i++) {
      const refused = await begin(caller);
      expect(codeOf(refused)).toBe(ERR.MYPROXY_DELEGATION_FAILED);
      if (refused.status === "error") expect(refused.message).toMatch(/began \d+ delegations in the last 5 minutes/);
    }
    // Nothing was made for the refused ones; Jane still delegates.
    expect(await pending()).toBe(before + MAX_DELEGATIONS_BEGUN);
    expect((await begin(jane)).status).toBe("ok");
  });
});
