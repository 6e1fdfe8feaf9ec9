import { spawn } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { RedisClient } from "../../platform/redis-client.ts";
import { ERR, type AuditRecord, type Site } from "../../schemas/index.ts";
import { fanOutAudit, processesOf, recentAudit, redisAuditList, runPayload, type AccountMapper } from "../../site-authz/index.ts";
import { testConfig } from "../support/namespace.ts";
import { openRedisAs } from "../support/live-services.ts";
import { createUser, removeUser } from "./support/local-users.ts";
import { PoolFixture, type TestPoolPilot } from "./support/pool-service.ts";
import { identity, siteWith } from "./support/site-fixture.ts";

// Each node's mapper is the pilot's (gLExec's): it leases pool accounts from the site-central
// pool-lease service (SCAS's role) over NATS, as the pilot role, holding no Redis credentials; the
// service holds the pool keys. Each lease is for a job the pilot holds (recorded as a claim does).
const loaded = testConfig("siteauthzpool");
const { names } = loaded;
let fx: PoolFixture;
let pilot1: TestPoolPilot;
let pilot2: TestPoolPilot;
/** Where site-authz's audit window lives; the agents write it in a deployment. */
let auditRedis: RedisClient;
let base: string;
let scanDir: string;
const users: Array<{ name: string; uid: number; gid: number }> = [];
const audit: AuditRecord[] = [];
const sites = new Map<string, Site>();

function poolSite(name: string, accounts: string[], leaseSec = 3600, over: Partial<Site> = {}): Site {
  return siteWith({ name, mapping: [{ type: "pool", accounts, leaseSec }], ...over });
}

function site(name: string): Site {
  return sites.get(name) as Site;
}

function mapper(s: Site, node: string, p: TestPoolPilot = pilot1): AccountMapper {
  return p.mapper(s, node, { audit: fanOutAudit((rec) => void audit.push(rec), redisAuditList(auditRedis, names)), scanDirs: [scanDir] });
}

describe("pool accounts leased site-centrally (SCAS role)", () => {
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) users.push(createUser("wmsp"));
    base = await mkdtemp(path.join(tmpdir(), "wms-pool-"));
    await chmod(base, 0o711);
    scanDir = path.join(base, "scratch");
    await mkdir(scanDir, { mode: 0o1777 });
    await chmod(scanDir, 0o1777);
    for (const s of [
      poolSite("POOL_TWO", [users[0].name, users[1].name]),
      poolSite("POOL_RACE", [users[0].name, users[1].name, users[2].name]),
      poolSite("POOL_FULL", [users[2].name], 3600, { identitySwitch: "required" }),
      poolSite("POOL_REUSE", [users[0].name], 1),
      poolSite("POOL_KEEP", [users[1].name], 3600),
    ])
      sites.set(s.name, s);
    fx = await PoolFixture.start(loaded, [...sites.values()]);
    pilot1 = fx.pilot();
    pilot2 = fx.pilot();
    auditRedis = openRedisAs(loaded, "agents");
  });

  afterAll(async () => {
    for (const u of users) for (const pid of await processesOf(u.uid)) process.kill(pid, "SIGKILL");
    await vi.waitFor(async () => expect((await Promise.all(users.map((u) => processesOf(u.uid)))).flat()).toEqual([]), { timeout: 10_000, interval: 20 });
    for (const u of users) removeUser(u.name);
    await rm(base, { recursive: true, force: true });
    await fx?.close();
    auditRedis?.disconnect();
  });

  it("maps the same DN to the same pool account on two nodes, and other DNs elsewhere", async () => {
    const s = site("POOL_TWO");
    const wn1 = mapper(s, "wn1", pilot1);
    const wn2 = mapper(s, "wn2", pilot2);
    const { mapping: a1, job: j1 } = await pilot1.map(wn1, s, identity("Alice"));
    const { mapping: a2, job: j2 } = await pilot2.map(wn2, s, identity("Alice"));
    expect(a1.plugin).toBe("pool");
    expect(a2.account).toBe(a1.account);
    expect(a2.lease?.status).toBe("renewed");
    const { mapping: b } = await pilot2.map(wn2, s, identity("Bob"));
    expect(b.account).not.toBe(a1.account);
    const leases = await fx.leases(s);
    expect(leases.find((l) => l.account === a1.account)?.holders.slice().sort()).toEqual([`wn1/${j1.jobId}`, `wn2/${j2.jobId}`].sort());
    const records = audit.filter((r) => r.event === "mapping-decision" && r.site === "POOL_TWO");
    expect(records.map((r) => [r.node, r.localAccount])).toEqual([
      ["wn1", a1.account],
      ["wn2", a1.account],
      ["wn2", b.account],
    ]);
    const window = await recentAudit(auditRedis, names, 10, (r) => r.site === "POOL_TWO");
    expect(window).toHaveLength(3);
  });

  it("never gives one account to two DNs asking at once from different nodes", async () => {
    const s = site("POOL_RACE");
    const nodes = [mapper(s, "wn1", pilot1), mapper(s, "wn2", pilot2)];
    const pilots = [pilot1, pilot2];
    const dns = ["D1", "D2", "D3", "D4", "D5", "D6"];
    const results = await Promise.allSettled(dns.map((cn, i) => pilots[i % 2].map(nodes[i % 2], s, identity(cn))));
    const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.mapping.account] : []));
    expect(won).toHaveLength(3);
    expect(new Set(won).size).toBe(3);
    const lost = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as { code: number }).code] : []));
    expect(lost).toEqual([ERR.MAP_POOL_EXHAUSTED, ERR.MAP_POOL_EXHAUSTED, ERR.MAP_POOL_EXHAUSTED]);
  });

  it("answers an exhausted pool with MAP_POOL_EXHAUSTED and runs no payload", async () => {
    const s = site("POOL_FULL");
    const m = mapper(s, "wn1");
    await pilot1.map(m, s, identity("Holder"));
    const late = await pilot1.hold(s, identity("Latecomer").dn);
    const workdir = path.join(base, "full-job");
    await mkdir(workdir, { mode: 0o755 });
    const secrets = path.join(base, "full-secrets");
    await mkdir(secrets, { mode: 0o700 });
    const marker = path.join(workdir, "ran");
    await expect(
      runPayload({
        site: s,
        identity: identity("Latecomer"),
        job: { jobId: late.jobId, attempt: late.attempt.attempt, leaseToken: late.attempt.leaseToken },
        pilotId: pilot1.pilotId,
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
    const s = site("POOL_REUSE");
    const wn1 = mapper(s, "wn1");
    const { mapping: first, job: f1 } = await pilot1.map(wn1, s, identity("First"));
    expect(first.account).toBe(acct.name);
    const release = (): ReturnType<AccountMapper["release"]> => wn1.release(first, identity("First").dn, { jobId: f1.jobId, pilotId: pilot1.pilotId, attempt: f1.attempt });

    // The first user left a process running and a file behind on this node.
    const lingering = spawn("sleep", ["60"], { uid: acct.uid, gid: acct.gid, detached: true, stdio: "ignore" });
    const leftover = path.join(scanDir, "leftover.dat");
    await writeFile(leftover, "data");
    await chown(leftover, acct.uid, acct.gid);
    await vi.waitFor(async () => expect(await processesOf(acct.uid)).toContain(lingering.pid), { timeout: 10_000, interval: 20 });

    const dirty = await release();
    expect(dirty?.status).toBe("dirty");
    expect(dirty?.check.pids).toContain(lingering.pid);
    expect(dirty?.check.files).toContain(leftover);

    await new Promise((r) => setTimeout(r, 1100)); // the 1 s lease has expired
    await expect(pilot1.map(wn1, s, identity("Second"))).rejects.toMatchObject({ code: ERR.MAP_POOL_EXHAUSTED });

    lingering.kill("SIGKILL");
    await new Promise((r) => lingering.once("exit", r));
    expect((await release())?.status).toBe("dirty"); // the file is still there
    await expect(pilot1.map(wn1, s, identity("Second"))).rejects.toMatchObject({ code: ERR.MAP_POOL_EXHAUSTED });

    await rm(leftover);
    const clean = await release();
    expect(clean).toMatchObject({ status: "released", holdersLeft: 0 });
    const { mapping: second } = await pilot1.map(wn1, s, identity("Second"));
    expect(second.account).toBe(acct.name);
    expect(second.lease).toMatchObject({ status: "reused", previousDn: identity("First").dn });
    const releases = audit.filter((r) => r.site === "POOL_REUSE" && r.detail?.startsWith("pool release"));
    expect(releases.map((r) => r.detail?.split(":")[0])).toEqual(["pool release dirty", "pool release dirty", "pool release released"]);
  });

  it("keeps a still-valid lease for its DN even after a clean release", async () => {
    const s = site("POOL_KEEP");
    const m = mapper(s, "wn1");
    const { mapping: a, job } = await pilot1.map(m, s, identity("Keeper"));
    expect((await m.release(a, identity("Keeper").dn, { jobId: job.jobId, pilotId: pilot1.pilotId, attempt: job.attempt }))?.status).toBe("released");
    await expect(pilot1.map(m, s, identity("Other"))).rejects.toMatchObject({ code: ERR.MAP_POOL_EXHAUSTED });
    expect((await pilot1.map(m, s, identity("Keeper"))).mapping.account).toBe(a.account);
  });
});
