// A site operator's sites.yaml as written by hand: the optional fields of the authorization and
// mapping plug-ins left out, and the one line a mistake in a plug-in gets; then which payloads ran
// as which local account, as `wms site authz check --audit` shows them.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { auditLog } from "../../agents/accounting/index.ts";
import { openRedis } from "../../platform/connections.ts";
import { DEFAULT_POOL_LEASE_SEC } from "../../schemas/index.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { runCli } from "../support/run-cli.ts";
import { asRole, roleEnv } from "../support/test-roles.ts";

const loaded = testConfig("siteconfig");
const { names } = loaded;
const env = { ...roleEnv("operator"), WMS_NAMESPACE: names.namespace, WMS_CONFIG: undefined };
let dir: string;

async function sitesFile(name: string, site: string[]): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, ["schemaVersion: 1", "sites:", "  - name: SITE_A", "    storagePath: /srv/a", "    identitySwitch: required", ...site.map((l) => `    ${l}`)].join("\n"));
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "wms-site-config-"));
});

afterAll(async () => {
  const redis = openRedis(asRole(loaded, "matchmaker").config);
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
});

describe("sites.yaml plug-ins", { timeout: 120_000 }, () => {
  it("takes a pool without leaseSec (a day) and a ban list without cas", async () => {
    const file = await sitesFile("defaults.yaml", ["authz:", '  - { type: ban-list, dns: ["/DC=org/CN=Mallory"] }', "mapping:", "  - { type: pool, accounts: [pool01, pool02] }"]);
    const listed = await runCli(["site", "list", "--sites-file", file], { env });
    expect(listed.stderr).toBe("");
    expect(listed.stdout).toMatch(/SITE_A +yes +required +\d+ +ban-list +pool\(2\)/);
    const check = (dn: string) => runCli(["site", "authz", "check", "--sites-file", file, "--site", "SITE_A", "--dn", dn, "--json"], { env });
    const before = Date.now();
    const jane = await check("/DC=org/CN=Jane Doe");
    expect(jane.code, jane.stderr).toBe(0);
    const peek = JSON.parse(jane.stdout) as { mapping: { account: string; lease: { status: string; expiresAt: number } } };
    expect(peek.mapping).toMatchObject({ account: "pool01", lease: { status: "new" } });
    // The lease a DN would get lasts the default's day: later than an hour short of it, not later than the day.
    expect(peek.mapping.lease.expiresAt).toBeGreaterThan(before + (DEFAULT_POOL_LEASE_SEC - 3600) * 1000);
    expect(peek.mapping.lease.expiresAt).toBeLessThanOrEqual(Date.now() + DEFAULT_POOL_LEASE_SEC * 1000 + 5000);
    const mallory = await check("/DC=org/CN=Mallory");
    expect(mallory.code).toBe(1);
    expect(JSON.parse(mallory.stdout)).toMatchObject({ ok: false, authz: { allowed: false, plugin: "ban-list" } });
  });

  it("names the problem of the plug-in the type says, not of the others", async () => {
    const typo = await sitesFile("typo.yaml", ["mapping:", "  - { type: pool, acounts: [pool01] }"]);
    const r = await runCli(["site", "list", "--sites-file", typo], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^wms: error E1002 BAD_CONFIG: .*field \/sites\/0\/mapping\/0 is missing field 'accounts'; field \/sites\/0\/mapping\/0 has unknown field 'acounts'\n$/);
    expect(r.stderr).not.toContain("gridmap");
    const unknown = await sitesFile("unknown.yaml", ["mapping:", "  - { type: pol, accounts: [pool01] }"]);
    const u = await runCli(["site", "list", "--sites-file", unknown], { env });
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/^wms: error E1002 BAD_CONFIG: .*field \/sites\/0\/mapping\/0\/type must be one of \["gridmap","role","pool"\]\n$/);
  });

  it("shows the identity switches the pilots reported, with the local account and the job", async () => {
    const file = await sitesFile("audit.yaml", ["mapping:", "  - { type: pool, accounts: [pool01] }"]);
    const dn = "/DC=org/CN=Audited User";
    // What the audit agent stores from a pilot's report (agents/accounting/audit-agent.ts), as it stores it.
    const redis = openRedis(asRole(loaded, "agents").config);
    const at = Date.now();
    const record = (event: "identity-switch" | "mapping-decision", jobId: string, site: string, dt: number) => ({
      schemaVersion: 1 as const, kind: "audit" as const, reportId: randomUUID(), event, dn, localAccount: "pool01", pilotId: "SITE_A-local.p1", jobId, site, node: "wn01", detail: event === "identity-switch" ? "exit 0" : "mapped by pool", at: at + dt,
    });
    try {
      for (const r of [record("mapping-decision", "T9.000001", "SITE_A", 0), record("identity-switch", "T9.000001", "SITE_A", 10), record("identity-switch", "T9.000002", "SITE_B", 20)]) await auditLog(redis, names).push(r);
    } finally {
      redis.disconnect();
    }
    const r = await runCli(["site", "authz", "check", "--sites-file", file, "--site", "SITE_A", "--dn", dn], { env });
    expect(r.code, r.stderr).toBe(0);
    // Newest first, this site's only.
    expect(r.stdout).toMatch(/recent audit for this DN \(newest first\):\n {2}\S+ identity-switch wn01 T9\.000001 pool01: exit 0\n {2}\S+ mapping-decision wn01 T9\.000001 pool01: mapped by pool\n$/);
  });
});
