// `wms pki revoke` against running services: the intake refuses a revoked user's task batches and
// control requests, the credential cache a revoked pilot's retrieval, each with 1715, within a
// second of the CLI writing the CRL and without restarting either service. The cache runs as the
// credentials role, the pilot retrieves on the pilots' identity, the matchmaker mints one-time keys.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { CRL_CHECK_MS, ONE_TIME_KEY_SEAL_PURPOSE, OneTimeKeyStore, pkiSealKeys, ServiceSealer } from "../../security/index.ts";
import { CredentialClient, startCredentialCache, type CredentialCache } from "../../agents/credentials/index.ts";
import { lfns, siteConfig, startIntakeHarness, type IntakeHarness, type Person } from "../intake/support/intake-harness.ts";
import { runCli } from "../support/run-cli.ts";
import { openRedisAs } from "../support/live-services.ts";
import type { RedisClient } from "../../platform/redis-client.ts";
import type { NatsConnection } from "nats";

let h: IntakeHarness;
let cache: CredentialCache;
let keys: OneTimeKeyStore;
let cacheRedis: RedisClient;
let mmRedis: RedisClient;
let pilotNc: NatsConnection;
const liveJobs = new Map<string, { state: string; attempt: number; pilotId: string; site: string }>();

beforeAll(async () => {
  h = await startIntakeHarness("revoke");
  const config = { ...h.loaded.config, pki: { dir: h.pkiDir }, credentials: { ...h.loaded.config.credentials, encryptionKey: randomBytes(32).toString("base64") } };
  cacheRedis = openRedisAs(h.loaded, "credentials");
  mmRedis = openRedisAs(h.loaded, "matchmaker");
  pilotNc = await h.connect("pilot");
  cache = startCredentialCache({ nc: await h.connect("credentials"), redis: cacheRedis, names: h.loaded.names, config, trust: h.trust, jobs: { attemptOf: async (id) => liveJobs.get(id) } });
  // Its subscriptions are in place before anything asks it (under load a request could find no responder).
  await cache.ready;
  const sealer = new ServiceSealer(pkiSealKeys(h.pkiDir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE);
  keys = new OneTimeKeyStore(mmRedis, h.loaded.names, { maxRenewals: 1, sealer });
  await h.sites.publish(siteConfig([{ name: "CERN" }]));
  await h.catalog.addFiles("ds.a", lfns("a", 2), ["CERN"]);
});

afterAll(async () => {
  await cache?.stop();
  await h?.close();
  cacheRedis?.disconnect();
  mmRedis?.disconnect();
});

function certFile(who: Person, name: string): string {
  const file = path.join(h.pkiDir, `${name}.cert.pem`);
  writeFileSync(file, who.certChain[0] as string);
  return file;
}

async function codeOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as { code?: number }).code;
  }
}

/**
 * The code of one `attempt` started once every service must have seen the revocation: a service
 * looks at the CRL file at most once per CRL_CHECK_MS (security/crl-watch.ts), so an attempt that
 * starts within that second of the revoke may still pass, and one that starts later must not,
 * however long it then takes. The clock starts when `wms pki revoke` has returned (the file is
 * written) and bounds when the attempt starts, never how long it runs: under a loaded CI run one
 * retrieval (an RSA key pair and two signatures) took seconds, and a loop that retried until
 * refused "within 3 s" failed when the one attempt begun inside the throttle used the window up.
 */
async function codeOnceCrlSeen(revokedAt: number, attempt: () => Promise<unknown>): Promise<number | undefined> {
  const wait = revokedAt + CRL_CHECK_MS + 100 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  return codeOf(attempt());
}

describe("wms pki revoke, with the services running", () => {
  it("the intake refuses a revoked user's batches and cancels with 1715, without a restart", async () => {
    const first = await h.client.submit(h.sign(h.batch({ kind: "analysis" }), h.people.bob));
    expect(first.taskId).toBeTruthy();
    const r = await runCli(["pki", "revoke", "--dir", h.pkiDir, "--cert", certFile(h.people.bob, "bob"), "--reason", "keyCompromise", "--json"]);
    const revokedAt = Date.now();
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ subjectDn: h.people.bob.dn, alreadyRevoked: false, reason: "keyCompromise" });
    expect(await codeOnceCrlSeen(revokedAt, () => h.client.submit(h.sign(h.batch({ kind: "analysis" }), h.people.bob)))).toBe(ERR.SEC_CERT_REVOKED);
    expect(await codeOf(h.cancel(first.taskId, h.people.bob))).toBe(ERR.SEC_CERT_REVOKED);
    // Alice, of the same CA, still submits.
    expect((await h.client.submit(h.sign(h.batch({ kind: "analysis" }), h.people.alice))).taskId).toBeTruthy();
    // Revoking again changes nothing and says so.
    const again = await runCli(["pki", "revoke", "--dir", h.pkiDir, "--cert", certFile(h.people.bob, "bob")]);
    expect(again.stdout).toMatch(/^already revoked: .*Bob Analysis/);
  }, 60_000);

  it("the credential cache refuses a revoked pilot's retrieval with 1715, by serial, without a restart", async () => {
    const alice = h.people.alice;
    await new CredentialClient(h.nc, h.loaded.names, { trust: h.trust }).delegate(alice, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
    const pilot = new CredentialClient(pilotNc, h.loaded.names, { trust: h.trust, caller: { certChain: h.people.pilot.certChain, keyPem: h.people.pilot.keyPem }, proxyKeyBits: 1024 });
    let seq = 0;
    const request = async (): Promise<{ oneTimeKey: string; userDn: string; jobId: string; pilotId: string; attempt: number }> => {
      const b = { userDn: alice.dn, jobId: `revoke-job-${++seq}`, pilotId: "pilot-1", attempt: 1 };
      liveJobs.set(b.jobId, { state: "running", attempt: 1, pilotId: b.pilotId, site: "SITE_A" });
      return { ...b, oneTimeKey: await keys.mint({ ...b, site: "SITE_A", ttlSec: 60 }) };
    };
    expect((await pilot.retrieve(await request())).proxyPem).toContain("BEGIN CERTIFICATE");
    // The serial as `openssl x509 -noout -serial` prints it (upper-case hex).
    const serial = execFileSync("openssl", ["x509", "-noout", "-serial", "-in", certFile(h.people.pilot, "pilot")]).toString().trim().replace(/^serial=/, "");
    const r = await runCli(["pki", "revoke", "--dir", h.pkiDir, "--serial", serial, "--reason", "cessationOfOperation"]);
    const revokedAt = Date.now();
    expect(r.stdout, r.stderr).toMatch(/^revoked: serial [0-9a-f]+; CRL #\d+ lists 2 certificate\(s\)/);
    const list = await runCli(["pki", "crl", "--dir", h.pkiDir, "--json"]);
    expect(JSON.parse(list.stdout).entries).toContainEqual(expect.objectContaining({ serialHex: serial.toLowerCase().replace(/^0+/, ""), reason: "cessationOfOperation" }));
    expect(await codeOnceCrlSeen(revokedAt, async () => pilot.retrieve(await request()))).toBe(ERR.SEC_CERT_REVOKED);
  }, 60_000);
});
