import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRedis } from "../../platform/connections.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { runCli } from "../support/run-cli.ts";
import { asRole, roleEnv, testAuth } from "../support/test-roles.ts";

const loaded = testConfig("siteauthzcli");
const { names } = loaded;
// `wms site authz check` is an operator's command: it runs with the operator's identity.
const env = { ...roleEnv("operator"), WMS_NAMESPACE: names.namespace, WMS_CONFIG: undefined };
let dir: string;
let sitesFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "wms-site-cli-"));
  await writeFile(path.join(dir, "grid-mapfile"), '"/DC=org/CN=Jane Doe" janed\n');
  sitesFile = path.join(dir, "sites.yaml");
  await writeFile(
    sitesFile,
    [
      "schemaVersion: 1",
      "sites:",
      "  - name: SITE_A",
      "    storagePath: /srv/a",
      "    identitySwitch: required",
      "    authz:",
      '      - { type: ban-list, dns: ["/DC=org/CN=Mallory"], cas: [] }',
      "      - { type: vo, vos: [atlas] }",
      "    mapping:",
      `      - { type: gridmap, file: ${path.join(dir, "grid-mapfile")} }`,
      "      - { type: pool, accounts: [pool01], leaseSec: 600 }",
      "  - name: SITE_B",
      "    storagePath: /srv/b",
    ].join("\n"),
  );
});

afterAll(async () => {
  // Clean-up as a service role (the operator may not delete what the services keep).
  const redis = openRedis(asRole(loaded, "matchmaker").config);
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
});

const check = (...args: string[]) => runCli(["site", "authz", "check", "--sites-file", sitesFile, "--site", "SITE_A", ...args], { env });

// Each call starts a fresh `wms` process (tsx), which is slow on a loaded 2-core machine.
describe("wms site", { timeout: 120_000 }, () => {
  it("lists the sites of the site config", async () => {
    const r = await runCli(["site", "list", "--sites-file", sitesFile, "--json"], { env });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Array<{ name: string; identitySwitch: string }>).map((s) => [s.name, s.identitySwitch])).toEqual([
      ["SITE_A", "required"],
      ["SITE_B", "off"],
    ]);
  });

  it("explains a refusal: the plug-in, its code, exit 1", async () => {
    const r = await check("--dn", "/DC=org/CN=Mallory", "--vo", "atlas");
    expect(r.code).toBe(1);
    expect(r.stdout, r.stderr).toMatch(/authorization: REFUSED E1800 by ban-list/);
  });

  // Six CLI processes: 10.6 s of the default 30 s in a loaded fresh-clone CI run.
  it("names the account a DN maps to, and peeks at a pool lease without taking it unless --lease", async () => {
    const jane = await check("--dn", "/DC=org/CN=Jane Doe", "--vo", "atlas", "--json");
    expect(jane.code, jane.stderr).toBe(0);
    expect(JSON.parse(jane.stdout)).toMatchObject({ ok: true, mapping: { account: "janed", plugin: "gridmap" } });

    const peekBob = async (): Promise<string> => (JSON.parse((await check("--dn", "/DC=org/CN=Bob", "--vo", "atlas", "--json")).stdout) as { mapping: { lease: { status: string } } }).mapping.lease.status;
    expect(await peekBob()).toBe("new");
    const take = await check("--dn", "/DC=org/CN=Bob", "--vo", "atlas", "--lease", "--json");
    if (testAuth()) {
      // The operator's identity may read the pool leases (a peek), not take one: with
      // authentication on, leases are for the site's worker nodes alone. Refused, nothing changed.
      expect(take.code).toBe(1);
      expect(take.stderr).toMatch(/^wms: error E1013 SERVICE_PERMISSION_DENIED: .*NOPERM/);
      expect(await peekBob()).toBe("new");
      return;
    }
    const leased = JSON.parse(take.stdout) as { mapping: { account: string }; recentAudit: Array<{ event: string }> };
    expect(leased.mapping.account).toBe("pool01");
    expect(leased.recentAudit.map((a) => a.event)).toEqual(["mapping-decision", "authz-decision"]);
    const carol = await check("--dn", "/DC=org/CN=Carol", "--vo", "atlas");
    expect(carol.code).toBe(1);
    expect(carol.stdout).toMatch(/mapping: none: E1805 MAP_POOL_EXHAUSTED/);
  }, 90_000);

  it("refuses bad input with one line and its code", async () => {
    const r = await check("--dn", "not-a-dn");
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^wms: error E1008 USAGE: .*--dn must be a DN/);
    const unknown = await runCli(["site", "authz", "check", "--sites-file", sitesFile, "--site", "NOPE", "--dn", "/x/y"], { env });
    expect(unknown.stderr.trim()).toMatch(/^wms: error E1005 NOT_FOUND: .*site 'NOPE'/);
  });
});
