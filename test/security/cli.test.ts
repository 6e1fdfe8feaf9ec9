// `wms pki` and `wms proxy` as a user runs them: the proxy commands on a user's
// transport identity (the operator role), against a credential cache on its own (credentials).
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { issueCertificate, JOB_SPEC_SEAL_PURPOSE, loadTrust, pkiSealKeys, sealKeysPath, SealVerifier, ServiceSealer, verifyChain } from "../../security/index.ts";
import { startCredentialCache, type CredentialCache } from "../../agents/credentials/index.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { openNatsAs, openRedisAs } from "../support/live-services.ts";
import { roleEnv } from "../support/test-roles.ts";
import { runCli } from "../support/run-cli.ts";

const loaded = testConfig("seccli");
const { config, names } = loaded;
const root = mkdtempSync(path.join(tmpdir(), "wms-sec-cli-"));
const pkiDir = path.join(root, "pki");
const env = { ...roleEnv("operator"), WMS_NAMESPACE: names.namespace, WMS_PKI_DIR: pkiDir, WMS_CONFIG: undefined, WMS_CREDENTIAL_KEY: undefined };
const userDn = "/DC=org/DC=pilot-wms/OU=People/CN=Cli User";
let nc: NatsConnection;
let redis: RedisClient;
let cache: CredentialCache | undefined;

beforeAll(async () => {
  nc = await openNatsAs(loaded, "credentials", "test-sec-cli");
  redis = openRedisAs(loaded, "credentials");
});
afterAll(async () => {
  await cache?.stop();
  await nc.close();
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  rmSync(root, { recursive: true, force: true });
});

describe("wms pki / proxy / credentials", () => {
  it("creates a PKI, issues a user certificate, delegates a proxy once and reports it like myproxy-info", async () => {
    const init = await runCli(["pki", "init", "--dir", pkiDir, "--vo", "atlas", "--json"], { env, cwd: root });
    expect(init.code, init.stderr).toBe(0);
    const made = JSON.parse(init.stdout) as { services: Array<{ name: string; keyPath: string }> };
    expect(made.services.map((s) => s.name).sort()).toEqual(["credentials", "intake", "matchmaker"]);
    expect(statSync(path.join(pkiDir, "ca.key.pem")).mode & 0o077).toBe(0);

    const prefix = path.join(root, "cli-user");
    const issue = await runCli(["pki", "issue", "--dir", pkiDir, "--kind", "user", "--dn", userDn, "--role", "production", "--out", prefix, "--json"], { env, cwd: root });
    expect(issue.code, issue.stderr).toBe(0);
    const trust = loadTrust(pkiDir);
    const id = verifyChain([readFileSync(`${prefix}.cert.pem`, "utf8")], trust);
    expect(id.dn).toBe(userDn);
    expect(id.roles).toContain("production");
    expect(statSync(`${prefix}.key.pem`).mode & 0o077).toBe(0);

    const cacheConfig = { ...config, pki: { dir: pkiDir }, credentials: { ...config.credentials, encryptionKey: randomBytes(32).toString("base64") } };
    cache = startCredentialCache({ nc, redis, names, config: cacheConfig, trust });
    // Its subscriptions are in place before anything asks it (under load a request could find no responder).
    await cache.ready;
    const creds = ["--cert", `${prefix}.cert.pem`, "--key", `${prefix}.key.pem`];
    // Nothing stored yet: myproxy-info's "no credentials found" is an error with its code. A user
    // whose certificate has one day left gets a shorter proxy than asked for, and is told so.
    const shortPrefix = path.join(root, "short-user");
    const short = issueCertificate({ caDir: pkiDir, kind: "user", dn: "/DC=org/DC=pilot-wms/OU=People/CN=Short Cert", days: 1 });
    writeFileSync(`${shortPrefix}.cert.pem`, short.certPem);
    writeFileSync(`${shortPrefix}.key.pem`, short.keyPem, { mode: 0o600 });
    const [none, cut] = await Promise.all([
      runCli(["proxy", "info", ...creds], { env, cwd: root }),
      runCli(["proxy", "init", "--cert", `${shortPrefix}.cert.pem`, "--key", `${shortPrefix}.key.pem`, "--lifetime", "48"], { env, cwd: root }),
    ]);
    expect(none.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(new RegExp(`^wms: error E${ERR.CREDENTIAL_NOT_STORED} CREDENTIAL_NOT_STORED: .*Cli User`))]);
    expect(none.code).toBe(1);
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.stderr).toMatch(/^wms: warning: the proxy lives 2[34]\.\d h, not the 48 h asked for: your certificate .*Short Cert expires at /);
    // No --lifetime: a user proxy lives 24 h by default.
    const first = await runCli(["proxy", "init", ...creds, "--min-left", "12", "--out", path.join(root, "x509up")], { env, cwd: root });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^delegated a new proxy for .*Cli User \(the cache held no proxy\)/);
    expect(verifyChain(readFileSync(path.join(root, "x509up"), "utf8").match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [], trust).isProxy).toBe(true);

    const second = await runCli(["proxy", "init", ...creds, "--lifetime", "24", "--min-left", "12"], { env, cwd: root });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^kept: the cache holds a proxy with 2[0-3]:\d\d:\d\d/);

    const info = await runCli(["proxy", "info", ...creds], { env, cwd: root });
    expect(info.stdout).toContain(`username: ${userDn}\nowner: ${userDn}\ntrusted retrieval policy: role:pilot\ntimeleft: `);
    expect(info.stdout).toMatch(/timeleft: (23:5\d|24:00):\d\d \(1\.0 days\)/);
  }, 120_000);

  it("rotates a seal key: the new one seals, the old one still verifies, a third rotation retires it", async () => {
    const file = sealKeysPath(pkiDir, JOB_SPEC_SEAL_PURPOSE);
    const before = new ServiceSealer(pkiSealKeys(pkiDir).jobSpec, JOB_SPEC_SEAL_PURPOSE).seal("spec");
    const r = await runCli(["pki", "rotate-seal-key", "--dir", pkiDir, "--purpose", JOB_SPEC_SEAL_PURPOSE], { env, cwd: root });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^job-spec: now sealing with \S+; \S+ still accepted/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const after = new ServiceSealer(pkiSealKeys(pkiDir).jobSpec, JOB_SPEC_SEAL_PURPOSE).seal("spec");
    expect(after.split(".")[0]).not.toBe(before.split(".")[0]);
    const check = (): SealVerifier => new SealVerifier(pkiSealKeys(pkiDir).jobSpec, JOB_SPEC_SEAL_PURPOSE);
    expect([check().verify("spec", before), check().verify("spec", after)]).toEqual([true, true]);
    // Without --purpose both rotate; the job-spec key sealed before the first rotation is now refused.
    expect((await runCli(["pki", "rotate-seal-key", "--dir", pkiDir], { env, cwd: root })).code).toBe(0);
    expect([check().verify("spec", before), check().verify("spec", after)]).toEqual([false, true]);
    const bad = await runCli(["pki", "rotate-seal-key", "--dir", pkiDir, "--purpose", "envelope"], { env, cwd: root });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(new RegExp(`^wms: error E${ERR.USAGE} .*--purpose must be job-spec or one-time-key`));
  });

  it("refuses a DN not in slash form with one line and its code", async () => {
    const r = await runCli(["pki", "issue", "--dir", pkiDir, "--kind", "user", "--dn", "CN=no slash"], { env, cwd: root });
    // The command line's fault, as a bad --kind is: E1008 and exit 2.
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(new RegExp(`^wms: error E${ERR.USAGE} USAGE: .*--dn: DN 'CN=no slash' must be in slash form`));
  });
});
