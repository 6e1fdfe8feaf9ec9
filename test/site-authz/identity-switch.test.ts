import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ERR, type AuditRecord, type Site } from "../../schemas/index.ts";
import { AccountMapper, processesOf, runPayload, startSwitched, type RunPayloadOptions } from "../../site-authz/index.ts";
import { testConfig } from "../support/namespace.ts";
import { createUser, removeUser } from "./support/local-users.ts";
import { PoolFixture } from "./support/pool-service.ts";
import { identity, siteWith } from "./support/site-fixture.ts";

// The pilot's part (gLExec's): it holds no Redis, so the mapping here needs none (a grid-mapfile)
// and audit records go where the pilot sends them, as signed reports: here an in-memory sink. Pool
// accounts (the last test) come from the site-central pool-lease service, over NATS as the pilot.
const loaded = testConfig("siteauthzswitch");
const { names } = loaded;
/** The pool-lease service: started by the one test that needs it. */
let pool: PoolFixture | undefined;
let base: string;
let secrets: string;
let jobs: string;
let gridmapFile: string;
let user: { name: string; uid: number; gid: number };
let poolUser: { name: string; uid: number; gid: number };
const audit: AuditRecord[] = [];
const PROXY = "-----BEGIN CERTIFICATE-----\nUSERPROXY\n-----END CERTIFICATE-----\n";
const LIBS = "/opt/site lib/lib64:/opt/other";

beforeAll(async () => {
  user = createUser("wmss");
  poolUser = createUser("wmsq");
  // The pilot's layout: <base>/pilot (0711) → secrets/ (0700: token, key) and jobs/<job>/.
  base = await mkdtemp(path.join(tmpdir(), "wms-switch-"));
  await chmod(base, 0o711);
  const pilotDir = path.join(base, "pilot");
  await mkdir(pilotDir, { mode: 0o711 });
  secrets = path.join(pilotDir, "secrets");
  await mkdir(secrets, { mode: 0o700 });
  await writeFile(path.join(secrets, "token"), "PILOT-TOKEN-SECRET", { mode: 0o600 });
  await writeFile(path.join(secrets, "pilot.key"), "PILOT-KEY-SECRET", { mode: 0o600 });
  jobs = path.join(pilotDir, "jobs");
  await mkdir(jobs, { mode: 0o711 });
  gridmapFile = path.join(base, "grid-mapfile");
  await writeFile(gridmapFile, `# test map\n"${identity("Jane Doe").dn}" ${user.name}\n`);
});

afterAll(async () => {
  for (const u of [user, poolUser]) for (const pid of await processesOf(u.uid)) process.kill(pid, "SIGKILL");
  await vi.waitFor(async () => expect([...(await processesOf(user.uid)), ...(await processesOf(poolUser.uid))]).toEqual([]), { timeout: 10_000, interval: 20 });
  removeUser(user.name);
  removeUser(poolUser.name);
  await rm(base, { recursive: true, force: true });
  await pool?.close();
});

function switchSite(over: Partial<Site> = {}): Site {
  return siteWith({ name: "SWITCH_SITE", identitySwitch: "required", mapping: [{ type: "gridmap", file: gridmapFile }], ...over });
}

async function jobDir(name: string): Promise<string> {
  const d = path.join(jobs, name);
  await mkdir(d, { mode: 0o755 });
  await chmod(d, 0o755);
  await writeFile(path.join(d, "input.dat"), "input", { mode: 0o644 });
  return d;
}

function request(site: Site, workdir: string, script: string, over: Partial<RunPayloadOptions> = {}): RunPayloadOptions {
  const sink = (r: AuditRecord): void => void audit.push(r);
  return {
    site,
    identity: identity("Jane Doe"),
    job: { jobId: path.basename(workdir), walltimeSec: 20 },
    pilotId: "pilot-1",
    node: "wn-test",
    workdir,
    command: "/bin/sh",
    args: ["-c", script],
    env: { LD_LIBRARY_PATH: LIBS, PATH: "/usr/bin:/bin", JOB_SETTING: "it's here" },
    proxyPem: PROXY,
    pilotSecretsDir: secrets,
    mapper: over.mapper ?? new AccountMapper({ site, names, node: "wn-test", audit: sink, scanDirs: [] }),
    audit: sink,
    ...over,
  };
}

const PROBE = [
  "id -u > uid.txt",
  'printf %s "$LD_LIBRARY_PATH" > ldpath.txt',
  'printf %s "$JOB_SETTING|$HOME|$USER|$PWD" > env.txt',
  'stat -c "%a %u" "$X509_USER_PROXY" > proxystat.txt',
  'head -c 27 "$X509_USER_PROXY" > proxyhead.txt',
  "echo written > out.txt",
  `cat ${"SECRETS"}/token > token.txt 2>/dev/null; echo $? > token.rc`,
  `cat ${"SECRETS"}/pilot.key > key.txt 2>/dev/null; echo $? > key.rc`,
  `ls ${"SECRETS"} > ls.txt 2>/dev/null; echo $? > ls.rc`,
].join("\n");

describe("identity switch (gLExec role), for real", () => {
  it("runs the payload under the mapped uid with its environment, its proxy, a writable workdir and no access to the pilot's secrets", async () => {
    const workdir = await jobDir("job-ok");
    const before = await stat(workdir);
    const run = await runPayload(request(switchSite(), workdir, PROBE.replaceAll("SECRETS", secrets)));
    expect(run).toMatchObject({ exitCode: 0, signal: null, account: user.name, uid: user.uid, walltimeExceeded: false });
    const read = (f: string) => readFile(path.join(workdir, f), "utf8");
    expect((await read("uid.txt")).trim()).toBe(String(user.uid));
    expect(await read("ldpath.txt")).toBe(LIBS);
    expect(await read("env.txt")).toBe(`it's here|${workdir}|${user.name}|${workdir}`);
    expect((await read("proxystat.txt")).trim()).toBe(`600 ${user.uid}`);
    expect(await read("proxyhead.txt")).toBe(PROXY.slice(0, 27));
    expect((await read("out.txt")).trim()).toBe("written");
    // The payload tried to read the pilot's token and key and to list their directory: refused.
    expect((await read("token.rc")).trim()).not.toBe("0");
    expect((await read("key.rc")).trim()).not.toBe("0");
    expect((await read("ls.rc")).trim()).not.toBe("0");
    expect(await read("token.txt")).toBe("");
    expect(await read("key.txt")).toBe("");

    // Afterwards: the proxy and wrapper are gone, permissions are back, nothing is left to the account.
    expect(existsSync(path.join(workdir, ".x509up"))).toBe(false);
    expect(existsSync(path.join(workdir, ".wms-payload-wrapper.sh"))).toBe(false);
    const after = await stat(workdir);
    expect([after.uid, after.gid, after.mode]).toEqual([before.uid, before.gid, before.mode]);
    const input = await stat(path.join(workdir, "input.dat"));
    expect([input.uid, input.mode & 0o777]).toEqual([0, 0o644]);
    expect((await stat(path.join(workdir, "out.txt"))).uid).toBe(before.uid);
    expect(run.wallSec).toBeGreaterThan(0);

    const switchRecord = audit.find((r) => r.event === "identity-switch" && r.jobId === "job-ok");
    expect(switchRecord).toMatchObject({ dn: identity("Jane Doe").dn, localAccount: user.name, pilotId: "pilot-1", node: "wn-test", site: "SWITCH_SITE" });
    expect(switchRecord?.endedAt).toBeGreaterThanOrEqual(switchRecord?.startedAt ?? Infinity);
  });

  it("kills a payload at its walltime and still deletes the proxy and restores permissions", async () => {
    const workdir = await jobDir("job-killed");
    const before = await stat(workdir);
    let pid: number | undefined;
    const run = await runPayload({
      ...request(switchSite(), workdir, "echo started > started.txt; sleep 30 & sleep 30"),
      job: { jobId: "job-killed", walltimeSec: 1 },
      onSpawn: (p) => (pid = p.child.pid),
    });
    expect(run).toMatchObject({ walltimeExceeded: true, signal: "SIGKILL", account: user.name });
    expect(pid).toBeGreaterThan(0);
    expect((await readFile(path.join(workdir, "started.txt"), "utf8")).trim()).toBe("started");
    expect(existsSync(path.join(workdir, ".x509up"))).toBe(false);
    const after = await stat(workdir);
    expect([after.uid, after.gid, after.mode]).toEqual([before.uid, before.gid, before.mode]);
    expect(await processesOf(user.uid)).toEqual([]);
  });

  it("does not follow a symlink the payload planted where a file was when it restores permissions", async () => {
    const workdir = await jobDir("job-symlink");
    const target = path.join(base, "root-only.txt");
    await writeFile(target, "root's", { mode: 0o600 });
    await runPayload(request(switchSite(), workdir, `rm -f input.dat && ln -s ${target} input.dat && mkdir sub && echo x > sub/made.txt`));
    const t = await stat(target);
    expect([t.uid, t.mode & 0o777]).toEqual([0, 0o600]);
    const made = await stat(path.join(workdir, "sub", "made.txt"));
    expect(made.uid).toBe(0);
  });

  it("deletes the proxy when the payload is SIGKILLed from outside", async () => {
    const workdir = await jobDir("job-sigkill");
    const p = await startSwitched({ ...request(switchSite(), workdir, "sleep 30"), job: { jobId: "job-sigkill" } });
    expect(existsSync(p.proxyPath)).toBe(true);
    const exited = new Promise((r) => p.child.once("exit", r));
    process.kill(-(p.child.pid as number), "SIGKILL");
    await exited;
    await p.cleanup();
    expect(existsSync(p.proxyPath)).toBe(false);
    expect((await stat(workdir)).uid).toBe(0);
  });

  it("with `required` and no mapping for the DN, runs nothing and says SWITCH_REQUIRED", async () => {
    const workdir = await jobDir("job-unmapped");
    const marker = path.join(workdir, "ran");
    await expect(runPayload({ ...request(switchSite(), workdir, `touch ${marker}`), identity: identity("Nobody Mapped") })).rejects.toMatchObject({ code: ERR.SWITCH_REQUIRED });
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(path.join(workdir, ".x509up"))).toBe(false);
    expect((await stat(workdir)).uid).toBe(0);
  });

  it("with `optional` and no mapping, runs the payload as the pilot", async () => {
    const workdir = await jobDir("job-optional");
    const run = await runPayload({ ...request(switchSite({ identitySwitch: "optional" }), workdir, "id -u > uid.txt"), identity: identity("Nobody Mapped") });
    expect(run.account).toBeUndefined();
    expect((await readFile(path.join(workdir, "uid.txt"), "utf8")).trim()).toBe(String(process.getuid?.()));
    expect(existsSync(path.join(workdir, ".x509up"))).toBe(false);
  });

  it("refuses a banned DN before anything runs, with AUTHZ_BANNED, and audits it", async () => {
    const workdir = await jobDir("job-banned");
    const marker = path.join(workdir, "ran");
    const site = switchSite({ authz: [{ type: "ban-list", dns: [identity("Jane Doe").dn], cas: [] }] });
    await expect(runPayload(request(site, workdir, `touch ${marker}`))).rejects.toMatchObject({ code: ERR.AUTHZ_BANNED });
    expect(existsSync(marker)).toBe(false);
    const recs = audit.filter((r) => r.jobId === "job-banned");
    expect(recs.map((r) => r.event)).toEqual(["authz-decision"]);
    expect(recs[0]?.detail).toMatch(/^refused E1800 by ban-list/);
  });

  it("refuses to switch while the pilot's secrets are readable by others", async () => {
    const workdir = await jobDir("job-leaky");
    const marker = path.join(workdir, "ran");
    await chmod(path.join(secrets, "token"), 0o644);
    try {
      await expect(runPayload(request(switchSite(), workdir, `touch ${marker}`))).rejects.toMatchObject({ code: ERR.SWITCH_FAILED, message: /token has mode 0644/ });
    } finally {
      await chmod(path.join(secrets, "token"), 0o600);
    }
    expect(existsSync(marker)).toBe(false);
    expect((await stat(workdir)).uid).toBe(0);
  });

  it("switches to a pool account and gives it back clean when the job ends", async () => {
    const workdir = await jobDir("job-pool");
    const site = switchSite({ name: "SWITCH_POOL", mapping: [{ type: "pool", accounts: [poolUser.name], leaseSec: 3600 }] });
    pool = await PoolFixture.start(loaded, [site]);
    const pilot = pool.pilot();
    const held = await pilot.hold(site, identity("Jane Doe").dn);
    const mapper = pilot.mapper(site, "wn-test", { audit: (r) => void audit.push(r), scanDirs: [] });
    const job = { jobId: held.jobId, walltimeSec: 20, attempt: held.attempt.attempt, leaseToken: held.attempt.leaseToken };
    const run = await runPayload(request(site, workdir, "id -u > uid.txt", { job, pilotId: pilot.pilotId, mapper }));
    expect(run.account).toBe(poolUser.name);
    expect((await readFile(path.join(workdir, "uid.txt"), "utf8")).trim()).toBe(String(poolUser.uid));
    expect(run.cleanup.release).toMatchObject({ status: "released", holdersLeft: 0 });
  });
});
