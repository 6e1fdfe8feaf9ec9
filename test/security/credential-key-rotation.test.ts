// `wms credentials rotate-key` with the credential cache running: proxies delegated before the
// rotation are still released, new ones are sealed under the new key (its id in the record), and
// `--reseal` moves the old records to the newest key so a keyring without the old keys opens them.
// The cache and the command run as the credentials role (the re-seal rewrites the cache's records);
// users delegate with their `wms` (operator role), pilots retrieve on theirs, the matchmaker mints.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WmsConfig } from "../../schemas/index.ts";
import { createHash } from "node:crypto";
import { CredentialKeyring, credentialKeyId, ONE_TIME_KEY_SEAL_PURPOSE, OneTimeKeyStore, pkiSealKeys, sealedKeyId, ServiceSealer } from "../../security/index.ts";
import { CredentialClient, startCredentialCache, type CredentialCache } from "../../agents/credentials/index.ts";
import { CredentialRecords } from "../../agents/credentials/credential-records.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { openNatsAs, openRedisAs } from "../support/live-services.ts";
import { roleEnv } from "../support/test-roles.ts";
import { runCli } from "../support/run-cli.ts";
import { BITS, buildPki, OTHER_USER_DN, USER_DN, type PkiFixture } from "./support/pki-fixture.ts";

const loaded = testConfig("keyrotate");
const { config: base, names } = loaded;
const firstKey = randomBytes(32).toString("base64");
let pki: PkiFixture;
let keyringFile: string;
let config: WmsConfig;
let nc: NatsConnection;
let redis: RedisClient;
let userNc: NatsConnection;
let pilotNc: NatsConnection;
let mmRedis: RedisClient;
let cache: CredentialCache;
let keys: OneTimeKeyStore;
const liveJobs = new Map<string, { state: string; attempt: number; pilotId: string; site: string }>();

beforeAll(async () => {
  pki = buildPki();
  keyringFile = path.join(pki.dir, "..", "credential-keys.json");
  config = { ...base, pki: { dir: pki.dir }, credentials: { ...base.credentials, encryptionKey: firstKey, keyringFile } };
  nc = await openNatsAs(loaded, "credentials", "test-keyrotate");
  redis = openRedisAs(loaded, "credentials");
  userNc = await openNatsAs(loaded, "operator", "test-keyrotate-user");
  pilotNc = await openNatsAs(loaded, "pilot", "test-keyrotate-pilot");
  mmRedis = openRedisAs(loaded, "matchmaker");
  cache = startCredentialCache({ nc, redis, names, config, trust: pki.trust, jobs: { attemptOf: async (id) => liveJobs.get(id) } });
  // Its subscriptions are in place before anything asks it (under load a request could find no responder).
  await cache.ready;
  const sealer = new ServiceSealer(pkiSealKeys(pki.dir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE);
  keys = new OneTimeKeyStore(mmRedis, names, { maxRenewals: 1, sealer });
});

afterAll(async () => {
  await cache?.stop();
  await Promise.all([nc, userNc, pilotNc].map((c) => c?.close()));
  await deleteNamespaceKeys(redis, names.namespace);
  redis?.disconnect();
  mmRedis?.disconnect();
  pki?.cleanup();
});

const recordKey = (dn: string): string => names.redisKey("cred", createHash("sha256").update(dn, "utf8").digest("hex"));
const keyIdOf = async (dn: string): Promise<string | undefined> => sealedKeyId((await redis.hget(recordKey(dn), "sealed")) ?? "");

async function delegate(who: { certPem: string; keyPem: string }): Promise<void> {
  await new CredentialClient(userNc, names, { trust: pki.trust }).delegate({ certChain: [who.certPem], keyPem: who.keyPem }, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
}

let seq = 0;
async function retrieve(userDn: string): Promise<string> {
  const b = { userDn, jobId: `rot-${++seq}`, pilotId: "pilot-1", attempt: 1 };
  liveJobs.set(b.jobId, { state: "running", attempt: 1, pilotId: b.pilotId, site: "SITE_A" });
  const oneTimeKey = await keys.mint({ ...b, site: "SITE_A", ttlSec: 60 });
  const pilot = new CredentialClient(pilotNc, names, { trust: pki.trust, caller: { certChain: [pki.pilot.certPem], keyPem: pki.pilot.keyPem }, proxyKeyBits: BITS });
  return (await pilot.retrieve({ ...b, oneTimeKey })).proxyPem;
}

const env = (): Record<string, string | undefined> => ({ ...roleEnv("credentials"), WMS_NAMESPACE: names.namespace, WMS_CONFIG: undefined, WMS_CREDENTIAL_KEY: firstKey, WMS_CREDENTIAL_KEYRING: keyringFile });

describe("wms credentials rotate-key", () => {
  it("rotates under a running cache: old records still released, new ones sealed under the new key, --reseal moves the old ones", async () => {
    await delegate(pki.user);
    const firstId = credentialKeyId(Buffer.from(firstKey, "base64"));
    expect(await keyIdOf(USER_DN)).toBe(firstId);

    const r = await runCli(["credentials", "rotate-key", "--json"], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const rotated = JSON.parse(r.stdout) as { currentKeyId: string; previousKeyId: string; keyIds: string[] };
    expect(rotated.previousKeyId).toBe(firstId);
    expect(rotated.currentKeyId).not.toBe(firstId);

    // The running cache seals the next delegation under the new key (within its 1 s look at the file)...
    const deadline = Date.now() + 5000;
    do {
      await delegate(pki.otherUser);
    } while ((await keyIdOf(OTHER_USER_DN)) !== rotated.currentKeyId && Date.now() < deadline);
    expect(await keyIdOf(OTHER_USER_DN)).toBe(rotated.currentKeyId);
    // ...and still releases what the old key sealed.
    expect(await retrieve(USER_DN)).toContain("BEGIN CERTIFICATE");
    expect(await keyIdOf(USER_DN)).toBe(firstId);

    const again = await runCli(["credentials", "rotate-key", "--reseal"], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^credential key ([0-9a-f]{12}) is current \(was [0-9a-f]{12}\); the keyring .* holds 3 key\(s\)\nre-sealed 2 credential\(s\); 0 already under the new key; 0 unreadable/);
    const newest = /^credential key ([0-9a-f]{12})/.exec(again.stdout)?.[1] as string;
    expect(await keyIdOf(USER_DN)).toBe(newest);
    expect(await keyIdOf(OTHER_USER_DN)).toBe(newest);

    // With every record re-sealed, a keyring holding only the newest key opens them all.
    const ring = JSON.parse((await import("node:fs")).readFileSync(keyringFile, "utf8")) as { current: string; keys: Record<string, string> };
    const onlyNewest = path.join(pki.dir, "..", "newest-only.json");
    writeFileSync(onlyNewest, JSON.stringify({ current: ring.current, keys: { [ring.current]: ring.keys[ring.current] } }), { mode: 0o600 });
    const records = new CredentialRecords(redis, names, new CredentialKeyring({ keyringFile: onlyNewest }));
    expect((await records.get(USER_DN))?.proxy.keyPem).toContain("PRIVATE KEY");
    expect((await records.get(OTHER_USER_DN))?.keyId).toBe(newest);
    // The running cache releases them too.
    expect(await retrieve(OTHER_USER_DN)).toContain("BEGIN CERTIFICATE");
  }, 90_000);

  it("refuses to rotate without a keyring file named, in one line with its code", async () => {
    const r = await runCli(["credentials", "rotate-key"], { env: { ...env(), WMS_CREDENTIAL_KEYRING: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/^wms: error E1008 USAGE: .*--keyring FILE/)]);
  });
});
