// A pilot whose retrieval is not answered within its timeout sends the same signed request again;
// on a slow cache (a loaded cluster's start-up) each copy was retrieved anew. Here the job's state
// owner is held back (the `jobs` port waits for the test) so the first copy stays in flight while
// the others arrive: copies share the first one's work and reply, and nobody else's request does.
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "nats";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialClient, startCredentialCache, type CredentialCache } from "../../agents/credentials/index.ts";
import type { RedisClient } from "../../platform/redis-client.ts";
import { CredReply, ERR, SCHEMA_VERSION, type AuditRecord, type CredRetrieveBody, type CredSignedRequest, type WmsConfig } from "../../schemas/index.ts";
import {
  createProxy,
  createProxyRequest,
  encryptToCertificate,
  issueCertificate,
  ONE_TIME_KEY_SEAL_PURPOSE,
  OneTimeKeyStore,
  pkiSealKeys,
  readServiceCredentials,
  ServiceSealer,
  signData,
  verifyChain,
  type CertificateAndKey,
} from "../../security/index.ts";
import { openNatsAs, openRedisAs } from "../support/live-services.ts";
import { testConfig } from "../support/namespace.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { asRole } from "../support/test-roles.ts";
import { BITS, buildPki, USER_DN, type PkiFixture } from "./support/pki-fixture.ts";

const loaded = testConfig("credrepeat");
const { names } = loaded;
const SITE = "SITE_A";
const enc = new TextEncoder();
let pki: PkiFixture;
let otherPilot: CertificateAndKey;
let config: WmsConfig;
let cacheRedis: RedisClient;
let mmRedis: RedisClient;
let cacheNc: NatsConnection;
let userNc: NatsConnection;
let pilotNc: NatsConnection;
let cache: CredentialCache;
let minting: OneTimeKeyStore;
/** The cache's log: each copy answered with the first one's reply is a debug line. */
const logLines: string[] = [];
/** The audit records the cache publishes: one `credential-retrieval` per proxy it issued. */
const audited: AuditRecord[] = [];
/** How often the cache asked the job's state owner about each job: once per retrieval it worked on. */
const lookups = new Map<string, number>();
let release: () => void = () => undefined;
let held: Promise<void> = Promise.resolve();

function hold(): void {
  held = new Promise((r) => (release = r));
}

beforeAll(async () => {
  pki = buildPki();
  otherPilot = issueCertificate({ caDir: pki.dir, keyBits: BITS, kind: "pilot", dn: "/DC=org/DC=pilot-wms/OU=Pilots/CN=another pilot owner" });
  const cacheRole = asRole(loaded, "credentials").config;
  config = { ...cacheRole, pki: { ...cacheRole.pki, dir: pki.dir }, credentials: { ...cacheRole.credentials, encryptionKey: randomBytes(32).toString("base64"), maxRenewals: 1, proxyKeyBits: BITS } };
  cacheRedis = openRedisAs(loaded, "credentials");
  mmRedis = openRedisAs(loaded, "matchmaker");
  cacheNc = await openNatsAs(loaded, "credentials", "test-credrepeat");
  userNc = await openNatsAs(loaded, "operator", "test-credrepeat-user");
  pilotNc = await openNatsAs(loaded, "pilot", "test-credrepeat-pilot");
  const logger = pino({ level: "debug" }, { write: (line: string) => void logLines.push(line) });
  cache = startCredentialCache({
    nc: cacheNc,
    redis: cacheRedis,
    names,
    config,
    trust: pki.trust,
    logger,
    reports: { publish: async (r) => void audited.push(r) },
    jobs: {
      attemptOf: async (jobId) => {
        lookups.set(jobId, (lookups.get(jobId) ?? 0) + 1);
        await held;
        return { state: "starting", attempt: 1, pilotId: "pilot-1", site: SITE };
      },
    },
  });
  await cache.ready;
  const userProxy = createProxy({ certPem: pki.user.certPem, keyPem: pki.user.keyPem, lifetimeSec: 3600, keyBits: BITS });
  await new CredentialClient(userNc, names, { trust: pki.trust }).delegate({ certChain: userProxy.chain, keyPem: userProxy.keyPem }, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
  minting = new OneTimeKeyStore(mmRedis, names, { maxRenewals: 1, sealer: new ServiceSealer(pkiSealKeys(pki.dir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE) });
});

afterAll(async () => {
  release();
  await cache?.stop();
  await Promise.all([cacheNc, userNc, pilotNc].map((c) => c?.close()));
  if (mmRedis) await deleteNamespaceKeys(mmRedis, names.namespace);
  cacheRedis?.disconnect();
  mmRedis?.disconnect();
  pki?.cleanup();
});

let seq = 0;
/** A retrieval's body as a pilot signs it (CredentialClient's), with a fresh one-time key. */
async function retrievalBody(): Promise<CredRetrieveBody> {
  const b = { userDn: USER_DN, jobId: `job-${++seq}`, pilotId: "pilot-1", attempt: 1 };
  const oneTimeKey = await minting.mint({ ...b, site: SITE, ttlSec: 60 });
  const cacheCert = readServiceCredentials(pki.dir, "credentials").certPem;
  const { csrPem } = await createProxyRequest({ keyBits: BITS });
  return { schemaVersion: SCHEMA_VERSION, op: "retrieve", ...b, oneTimeKey: encryptToCertificate(cacheCert, oneTimeKey), csr: csrPem, issuedAt: Date.now() };
}

function signedBy(who: CertificateAndKey, body: CredRetrieveBody): CredSignedRequest {
  const text = JSON.stringify(body);
  return { schemaVersion: SCHEMA_VERSION, body: text, signature: signData(text, who.keyPem), certChain: [who.certPem] };
}

async function send(req: CredSignedRequest): Promise<CredReply> {
  const m = await pilotNc.request(names.subjects.credRetrieve, enc.encode(JSON.stringify(req)), { timeout: 120_000 });
  return CredReply.parseJson(m.data);
}

const repeatsAnswered = (): number => logLines.filter((l) => l.includes("asked again while the first copy is handled")).length;

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; !done(); i++) {
    if (i > 600) throw new Error(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a retrieval asked again while the first copy is in flight", () => {
  it("is worked on once, and every copy gets the first one's proxy", async () => {
    hold();
    const body = await retrievalBody();
    const request = signedBy(pki.pilot, body);
    const first = send(request);
    await until("the first copy to reach the job's state owner", () => lookups.get(body.jobId) === 1);
    const shared = repeatsAnswered();
    const copies = [send(request), send(request)];
    // Each copy either joins the first or, handled anew, asks the state owner again.
    await until("both copies to arrive", () => repeatsAnswered() - shared + (lookups.get(body.jobId) ?? 0) - 1 >= 2);
    expect(lookups.get(body.jobId)).toBe(1);
    release();
    const replies = await Promise.all([first, ...copies]);
    const chains = replies.map((r) => (r.status === "ok" && r.op === "retrieve" ? r.proxyChain : r));
    expect(chains[1]).toEqual(chains[0]);
    expect(chains[2]).toEqual(chains[0]);
    expect(verifyChain(chains[0] as string[], pki.trust).dn).toBe(USER_DN);
    expect(audited.filter((r) => r.event === "credential-retrieval" && r.jobId === body.jobId)).toHaveLength(1);
  });

  it("shares nothing with another requester's request for the same job, key and key pair", async () => {
    hold();
    const body = await retrievalBody();
    const mine = signedBy(pki.pilot, body);
    const first = send(mine);
    await until("the first request to reach the job's state owner", () => lookups.get(body.jobId) === 1);
    const shared = repeatsAnswered();
    // A user outside the retrieval policy sends the very body the pilot signed, signed by itself:
    // refused on its own while the pilot's is in flight, not handed the pilot's proxy.
    const outsider = await send(signedBy(pki.otherUser, body));
    expect(outsider).toMatchObject({ status: "error", code: ERR.SEC_NOT_AUTHORIZED });
    // The pilot's signature under someone else's chain does not verify.
    const swapped = await send({ ...mine, certChain: [pki.otherUser.certPem] });
    expect(swapped).toMatchObject({ status: "error", code: ERR.SEC_BAD_SIGNATURE });
    // Another pilot, allowed by the policy, is checked and worked on for itself.
    const second = send(signedBy(otherPilot, body));
    await until("the other pilot's request to reach the job's state owner", () => lookups.get(body.jobId) === 2);
    expect(repeatsAnswered()).toBe(shared);
    release();
    expect(await first).toMatchObject({ status: "ok", op: "retrieve" });
    expect(await second).toMatchObject({ status: "ok", op: "retrieve" });
    const otherDn = verifyChain([otherPilot.certPem], pki.trust).dn;
    expect(audited.filter((r) => r.jobId === body.jobId && r.event === "credential-retrieval").map((r) => r.detail)).toContain(`retrieve by ${otherDn}`);
  });
});
