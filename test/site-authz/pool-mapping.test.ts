import { spawn } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { RedisClient } from "../../platform/redis-client.ts";
import { ERR, type AuditRecord, type Site } from "../../schemas/index.ts";
import { AccountMapper, fanOutAudit, processesOf, recentAudit, redisAuditList, runPayload } from "../../site-authz/index.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { openRedisAs } from "../support/live-services.ts";
import { testAuth } from "../support/test-roles.ts";
import { createUser, removeUser } from "./support/local-users.ts";
import { identity, siteWith } from "./support/site-fixture.ts";

// Each node's mapper is the pilot's (gLExec's), leasing pool accounts in Redis as the pilot. With
// authentication on the pilot holds no Redis credentials, so pool accounts need a lease service
// first (security/README.md, "Not yet covered"): the file is skipped there rather than run under
// an identity the pilot does not have.
const loaded = testConfig("siteauthzpool");
const { names } = loaded;
let redis: RedisClient;
let redis2: RedisClient;
let base: string;
let scanDir: string;
const users: Array<{ name: string; uid: number; gid: number }> = [];
const audit: AuditRecord[] = [];

function poolSite(name: string, accounts: string[], leaseSec = 3600, over: Partial<Site> = {}): Site {
  return siteWith({ name, mapping: [{ type: "pool", accounts, leaseSec }], ...over });
}

function mapper(site: Site, node: string, r: RedisClient = redis): AccountMapper {
  return new AccountMapper({ site, names, node, redis: r, audit: fanOutAudit((rec) => void audit.push(rec), redisAuditList(r, names)), scanDirs: [scanDir] });
}

describe.skipIf(testAuth())("pool accounts leased site-centrally (SCAS role)", () => {
  beforeAll(async () => {
    redis = openRedisAs(loaded, "pilot");
    redis2 = openRedisAs(loaded, "pilot");
    for (let i = 0; i < 3; i++) users.push(createUser("wmsp"));
    base = await mkdtemp(path.join(tmpdir(), "wms-pool-"));
    await chmod(base, 0o711);
    scanDir = path.join(base, "scratch");
    await mkdir(scanDir, { mode: 0o1777 });
    await chmod(scanDir, 0o1777);
  });

  afterAll(async () => {
    for (const u of users) for (const pid of await processesOf(u.uid)) process.kill(pid, "SIGKILL");
    await vi.waitFor(async () => expect((await Promise.all(users.map((u) => processesOf(u.uid)))).flat()).toEqual([]), { timeout: 10_000, interval: 20 });
    for (const u of users) removeUser(u.name);
    await rm(base, { recursive: true, force: true });
    await deleteNamespaceKeys(redis, names.namespace);
    redis.disconnect();
    redis2.disconnect();
  });

  it("maps the same DN to the same pool account on two nodes, and other DNs elsewhere", async () => {
    const site = poolSite("POOL_TWO", [users[0].name, users[1].name]);
    const wn1 = mapper(site, "wn1", redis);
    const wn2 = mapper(site, "wn2", redis2);
    const a1 = await wn1.map(identity("Alice"), { jobId: "j1" });
    const a2 = await wn2.map(identity("Alice"), { jobId: "j2" });
    expect(a1.plugin).toBe("pool");
    expect(a2.account).toBe(a1.account);
    expect(a2.lease?.status).toBe("renewed");
    const b = await wn2.map(identity("Bob"), { jobId: "j3" });
    expect(b.account).not.toBe(a1.account);
    const leases = await wn1.poolLeases();
    expect(leases.find((l) => l.account === a1.account)?.holders.slice().sort()).toEqual(["wn1/j1", "wn2/j2"]);
    const records = audit.filter((r) => r.event === "mapping-decision" && r.site === "POOL_TWO");
    expect(records.map((r) => [r.node, r.localAccount])).toEqual([
      ["wn1", a1.account],
      ["wn2", a1.account],
      ["wn2", b.account],
    ]);
    const window = await recentAudit(redis, names, 10, (r) => r.site === "POOL_TWO");
    expect(window).toHaveLength(3);
  });

  it("never gives one account to two DNs asking at once from different nodes", async () => {
    const site = poolSite("POOL_RACE", [users[0].name, users[1].name, users[2].name]);
    const nodes = [mapper(site, "wn1", redis), mapper(site, "wn2", redis2)];
    const dns = ["D1", "D2", "D3", "D4", "D5", "D6"];
    const results = await Promise.allSettled(dns.map((cn, i) => nodes[i % 2].map(identity(cn), { jobId: `r${i}` })));
    const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.account] : []));
    expect(won).toHaveLength(3);
    expect(new Set(won).size).toBe(3);
    const lost = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as { code: number }).code] : []));
    expect(lost).toEqual([ERR.MAP_POOL_EXHAUSTED, ERR.MAP_POOL_EXHAUSTED, ERR.MAP_POOL_EXHAUSTED]);
  });

  it("answers an exhausted pool with MAP_POOL_EXHAUSTED and runs no payload", async () => {
    const site = poolSite("POOL_FULL", [users[2].name], 3600, { identitySwitch: "required" });
    const m = mapper(site, "wn1");
    await m.map(identity("Holder"), { jobId: "h1" });
    const workdir = path.join(base, "full-job");
    await mkdir(workdir, { mode: 0o755 });
    const secrets = path.join(base, "full-secrets");
    await mkdir(secrets, { mode: 0o700 });
    const marker = path.join(workdir, "ran");
    await expect(
      runPayload({
        site,
        identity: identity("Latecomer"),
        job: { jobId: "late1" },
        pilotId: "p1",
        node: "wn1",
        workdir,
        command: "/bin/sh",
        args: ["-c", `touch ${marker}`],
        env: {},
        proxyPem: "PEM",
        pilotSecretsDir: secrets,
        mapper: m,
        audit: (r) => void audit.push(r),
      }),
    ).rejects.toMatchObject({ code: ERR.MAP_POOL_EXHAUSTED });
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(path.join(workdir, ".x509up"))).toBe(false);
    const refusal = audit.find((r) => r.event === "mapping-decision" && r.dn.endsWith("CN=Latecomer"));
    expect(refusal?.detail).toMatch(/refused E1805/);
  });

  it("reuses an expired lease for another DN only after the first user's processes and files are gone", async () => {
    const acct = users[0];
    const site = poolSite("POOL_REUSE", [acct.name], 1);
    const wn1 = mapper(site, "wn1");
    const first = await wn1.map(identity("First"), { jobId: "f1" });
    expect(first.account).toBe(acct.name);

    // The first user left a process running and a file behind on this node.
    const lingering = spawn("sleep", ["60"], { uid: acct.uid, gid: acct.gid, detached: true, stdio: "ignore" });
    const leftover = path.join(scanDir, "leftover.dat");
    await writeFile(leftover, "data");
    await chown(leftover, acct.uid, acct.gid);
    await vi.waitFor(async () => expect(await processesOf(acct.uid)).toContain(lingering.pid), { timeout: 10_000, interval: 20 });

    const dirty = await wn1.release(first, identity("First").dn, { jobId: "f1" });
    expect(dirty?.status).toBe("dirty");
    expect(dirty?.check.pids).toContain(lingering.pid);
    expect(dirty?.check.files).toContain(leftover);

    await new Promise((r) => setTimeout(r, 1100)); // the 1 s lease has expired
    await expect(wn1.map(identity("Second"), { jobId: "s1" })).rejects.toMatchObject({ code: ERR.MAP_POOL_EXHAUSTED });

    lingering.kill("SIGKILL");
    await new Promise((r) => lingering.once("exit", r));
    expect((await wn1.release(first, identity("First").dn))?.status).toBe("dirty"); // the file is still there
    await expect(wn1.map(identity("Second"), { jobId: "s1" })).rejects.toMatchObject({ code: ERR.MAP_POOL_EXHAUSTED });

    await rm(leftover);
    const clean = await wn1.release(first, identity("First").dn);
    expect(clean).toMatchObject({ status: "released", holdersLeft: 0 });
    const second = await wn1.map(identity("Second"), { jobId: "s1" });
    expect(second.account).toBe(acct.name);
    expect(second.lease).toMatchObject({ status: "reused", previousDn: identity("First").dn });
    const releases = audit.filter((r) => r.site === "POOL_REUSE" && r.detail?.startsWith("pool release"));
    expect(releases.map((r) => r.detail?.split(":")[0])).toEqual(["pool release dirty", "pool release dirty", "pool release released"]);
  });

  it("keeps a still-valid lease for its DN even after a clean release", async () => {
    const site = poolSite("POOL_KEEP", [users[1].name], 3600);
    const m = mapper(site, "wn1");
    const a = await m.map(identity("Keeper"), { jobId: "k1" });
    expect((await m.release(a, identity("Keeper").dn))?.status).toBe("released");
    await expect(m.map(identity("Other"), { jobId: "o1" })).rejects.toMatchObject({ code: ERR.MAP_POOL_EXHAUSTED });
    expect((await m.map(identity("Keeper"), { jobId: "k2" })).account).toBe(a.account);
  });
});
