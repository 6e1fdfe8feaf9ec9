import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { factoryKeys, PilotCensusStore, pilotCountsBySite, readFactoryStatus } from "../../pilot-factory/index.ts";
import { FactoryQueueStatus, SCHEMA_VERSION, wireNames } from "../../schemas/index.ts";
import { secretHash } from "../../security/index.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { openLiveServices, openNatsAs, type LiveServices } from "../support/live-services.ts";
import { REPO_ROOT, WMS_BIN, runCli } from "../support/run-cli.ts";
import { roleEnv } from "../support/test-roles.ts";
import { publishCensus, queueKnobs, startTestFactory, waitFor } from "./factory-fixture.ts";

const loaded = testConfig("factorycli");
const { names } = loaded;
const ns = names.namespace;
let nc: NatsConnection;
let redis: RedisClient;
let live: LiveServices;
/** The pilots' side: census messages come from pilots. */
let pilots: NatsConnection;
/** `wms factory status` and `wms pilot list` are what an operator runs. */
const operator = { env: roleEnv("operator") };
const workDir = mkdtempSync(path.join(os.tmpdir(), "wms-factory-cli-"));

beforeAll(async () => {
  live = await openLiveServices(loaded, "factory-cli-test", { as: "factory" });
  ({ nc, redis } = live);
  pilots = await openNatsAs(loaded, "pilot", "factory-cli-test-pilots");
});

afterAll(async () => {
  await pilots?.close();
  await live.close();
  rmSync(workDir, { recursive: true, force: true });
});

describe("wms factory status and run", () => {
  it("status shows per queue submitted, pending, idle, running, exited, empty pilots and rate vs target", async () => {
    const f = await startTestFactory({ loaded, nc, redis, workDir }, "fac-cli", [queueKnobs({ name: "shown", maxPerCycle: 4, pilotsPerMinute: 240, cycleSec: 1 })], 4);
    try {
      const [r] = await f.cycleOnce();
      expect(r.submitted).toHaveLength(4);
      const [a, b, c] = r.submitted;
      publishCensus(pilots, names, a, "running");
      publishCensus(pilots, names, b, "idle");
      publishCensus(pilots, names, c, "exited", { emptyAdverts: 3 });
      await waitFor("census applied", async () => (await f.census("shown")).exited === 1 && (await f.census("shown")).running === 1);
      await f.cycleOnce();
    } finally {
      await f.stop();
    }
    const [json, table] = await Promise.all([runCli(["--namespace", ns, "factory", "status", "--json"], operator), runCli(["--namespace", ns, "factory", "status"], operator)]);
    expect(json.stderr).toBe("");
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout) as { queues: unknown[] };
    expect(out.queues).toHaveLength(1);
    const q = FactoryQueueStatus.parse(out.queues[0]);
    expect(q).toMatchObject({ factoryId: "fac-cli", queue: "shown", submitted: 4, pending: 1, idle: 1, running: 1, exited: 1, emptyPilots: 1, ratePerMin: 4, targetPerMin: 240 });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/FACTORY\s+QUEUE\s+SITE\s+ADAPTER\s+SUBMITTED\s+PENDING\s+IDLE\s+RUNNING\s+EXITED\s+EMPTY/);
    expect(table.stdout).toMatch(/fac-cli\s+shown\s+SITE_A\s+local\s+4\s+1\s+1\s+1\s+1\s+1/);
    // A factory named that left no status (a typo, another namespace) is an error, not an empty table.
    const [named, typo] = await Promise.all([runCli(["--namespace", ns, "factory", "status", "--factory", "fac-cli"], operator), runCli(["--namespace", ns, "factory", "status", "--factory", "fac-clj", "--json"], operator)]);
    expect(named.code).toBe(0);
    expect(named.stdout).toMatch(/fac-cli\s+shown/);
    expect(typo.code).toBe(1);
    expect(typo.stdout).toBe("");
    expect(typo.stderr).toMatch(/^wms: error E1005 NOT_FOUND: .*no status of factory fac-clj in namespace /);
  }, 60_000);

  it("run --factory-file F --once reads a factory file, runs one cycle and stops; without a file it says what to give", async () => {
    const file = path.join(workDir, "factory.yaml");
    writeFileSync(file, "factoryId: fac-once\nqueues:\n  - name: quiet\n    site: SITE_Q\n    targetIdle: 0\n");
    const [once, missing] = await Promise.all([
      runCli(["--namespace", ns, "factory", "run", "--factory-file", file, "--once", "--json", "--work-dir", workDir], { env: { ...roleEnv("factory"), WMS_LOG_LEVEL: "silent" } }),
      runCli(["--namespace", ns, "factory", "run", "--once"], { cwd: workDir, env: roleEnv("factory") }),
    ]);
    expect(once.stderr).toBe("");
    expect(once.code).toBe(0);
    const [report] = JSON.parse(once.stdout) as Array<{ queue: string; submitted: string[]; decision: { reason: string }; observation: { waitingJobs: number } }>;
    expect(report).toMatchObject({ queue: "quiet", submitted: [], decision: { reason: "no-demand" }, observation: { waitingJobs: 0 } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^wms: error E1008 USAGE: .*--factory-file/);
  }, 60_000);

  it("run refuses a queue for a site the site configuration does not have, with one line naming it, and submits nothing", async () => {
    const sites = path.join(workDir, "sites-z.yaml");
    writeFileSync(sites, "schemaVersion: 1\nsites:\n  - name: SITE_A\n    storagePath: /tmp/SITE_A\n  - name: SITE_B\n    storagePath: /tmp/SITE_B\n");
    const wmsYaml = path.join(workDir, "wms-z.yaml");
    writeFileSync(wmsYaml, `sitesFile: ${sites}\n`);
    const file = path.join(workDir, "factory-z.yaml");
    writeFileSync(file, "factoryId: fac-z\nqueues:\n  - name: good\n    site: SITE_A\n  - name: typo\n    site: SITE_Z\n");
    const r = await runCli(["--config", wmsYaml, "--namespace", `${ns}z`, "factory", "run", "--factory-file", file, "--once", "--work-dir", workDir], { env: { ...roleEnv("factory"), WMS_LOG_LEVEL: "silent" } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^wms: error E1154 FACTORY_UNKNOWN_SITE: .*queue 'typo' names site 'SITE_Z'.*known sites: SITE_A, SITE_B/);
    const zNames = wireNames(`${ns}z`);
    expect((await readFactoryStatus(redis, zNames, "fac-z")).queues).toHaveLength(0);
    await deleteNamespaceKeys(redis, zNames.namespace);
  }, 60_000);

  it("run keeps cycling until Ctrl-C, then stops cleanly with exit 0", async () => {
    const file = path.join(workDir, "factory-loop.yaml");
    writeFileSync(file, "factoryId: fac-loop\nqueues:\n  - name: looping\n    site: SITE_L\n    targetIdle: 0\n    cycleSec: 0.2\n");
    const child = spawn(process.execPath, [WMS_BIN, "--namespace", ns, "factory", "run", "--factory-file", file, "--work-dir", workDir], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...roleEnv("factory"), WMS_LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    try {
      // Two status writes at different times: the loop is running.
      const first = await waitFor("a first status", async () => (await readFactoryStatus(redis, names, "fac-loop")).queues[0], 40_000);
      await waitFor("a later status", async () => ((await readFactoryStatus(redis, names, "fac-loop")).queues[0]?.at ?? 0) > first.at, 20_000);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      // Run by hand, its own Ctrl-C is what stops it (under `wms up` the supervisor's: deployment/up.test.ts).
      expect(stderr).toContain("; Ctrl-C stops the factory (pilots keep running)\n");
      expect(stderr).toContain("factory fac-loop stopped");
    } finally {
      child.kill("SIGKILL");
    }
  }, 90_000);

  it("sums pilots per site and state for the monitor", () => {
    const base = { schemaVersion: SCHEMA_VERSION, factoryId: "f", adapter: "local", submitted: 0, lost: 0, waitingJobs: 0, ratePerMin: 0, targetPerMin: 0, lastCycleSubmitted: 0, at: 0 } as const;
    const rows = pilotCountsBySite([
      { ...base, queue: "a", site: "S1", pending: 1, idle: 2, running: 3, exited: 4, emptyPilots: 1, knobs: queueKnobs({ name: "a", site: "S1" }) },
      { ...base, queue: "b", site: "S1", pending: 1, idle: 0, running: 1, exited: 0, emptyPilots: 0, knobs: queueKnobs({ name: "b", site: "S1" }) },
      { ...base, queue: "c", site: "S2", pending: 0, idle: 5, running: 0, exited: 2, emptyPilots: 2, knobs: queueKnobs({ name: "c", site: "S2" }) },
    ]);
    expect(rows).toEqual(
      expect.arrayContaining([
        { site: "S1", state: "pending", count: 2 },
        { site: "S1", state: "running", count: 4 },
        { site: "S2", state: "idle", count: 5 },
        { site: "S2", state: "empty", count: 2 },
      ]),
    );
    expect(rows).toHaveLength(10);
  });
});

describe("wms pilot list", () => {
  // Four CLI processes after a factory cycle: 8.5 s in a loaded fresh-clone CI run, room to 90 s.
  it("shows each pilot the factory knows with its state, jobs run and the reports it holds in memory", async () => {
    const f = await startTestFactory({ loaded, nc, redis, workDir }, "fac-list", [queueKnobs({ name: "listed", maxPerCycle: 3, pilotsPerMinute: 240, cycleSec: 1 })], 3);
    let ids: readonly string[];
    try {
      const [r] = await f.cycleOnce();
      ids = r.submitted;
      expect(ids).toHaveLength(3);
      // One pilot waits with reports it could neither send nor spool; one is idle; one left.
      publishCensus(pilots, names, ids[0], "running", { jobsDone: 4, jobsFailed: 1, heldReports: 3 });
      publishCensus(pilots, names, ids[1], "idle");
      publishCensus(pilots, names, ids[2], "exited", { emptyAdverts: 3 });
      await waitFor("census applied", async () => (await f.census("listed")).exited === 1 && (await f.census("listed")).running === 1 && (await f.census("listed")).idle === 1);
    } finally {
      await f.stop();
    }
    const json = await runCli(["--namespace", ns, "pilot", "list", "--json"], operator);
    expect(json.stderr).toBe("");
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    const byId = new Map(rows.filter((r) => r.factoryId === "fac-list").map((r) => [r.pilotId, r]));
    expect(byId.get(ids[0])).toMatchObject({ site: "SITE_A", queue: "listed", state: "running", jobs: 5, heldReports: 3 });
    expect(byId.get(ids[1])).toMatchObject({ state: "idle", heldReports: 0 });
    expect(byId.get(ids[2])).toMatchObject({ state: "exited", emptyAdverts: 3 });

    const running = await runCli(["--namespace", ns, "pilot", "list", "--state", "running", "--site", "SITE_A"], operator);
    expect(running.code).toBe(0);
    const lines = running.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^PILOT\s+SITE\s+STATE\s+JOBS\s+HELD\s+QUEUE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toContainEqual([ids[0], "SITE_A", "running", "5", "3", "listed"]);
    expect(lines.some((l) => l.startsWith(ids[1]))).toBe(false);

    const bad = await runCli(["--namespace", ns, "pilot", "list", "--state", "asleep"], operator);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/E\d{4}.*--state asleep/);

    // The listing reads each factory's per-site index, not a SCAN: a site nobody submitted to is
    // empty at once, and a pilot whose record is gone (expired a day after its exit) leaves the
    // index at the factory's next submission there.
    const keys = factoryKeys(names, "fac-list");
    expect(await redis.smembers(keys.sites)).toEqual(["SITE_A"]);
    expect((await redis.zrange(keys.sitePilots("SITE_A"), 0, -1)).sort()).toEqual([...ids].sort());
    const other = await runCli(["--namespace", ns, "pilot", "list", "--site", "SITE_B", "--json"], operator);
    expect((JSON.parse(other.stdout) as Array<Record<string, unknown>>).filter((r) => r.factoryId === "fac-list")).toEqual([]);
    await redis.del(keys.pilot(ids[2]));
    // The factory's next submission to the site (recorded as a running factory records it).
    await new PilotCensusStore(redis, names, "fac-list", secretHash).recordSubmitted("listed", "SITE_A", ["fac-list-next"], Date.now());
    const indexed = await redis.zrange(keys.sitePilots("SITE_A"), 0, -1);
    expect(indexed).not.toContain(ids[2]);
    expect(indexed).toContain("fac-list-next");
    const after = JSON.parse((await runCli(["--namespace", ns, "pilot", "list", "--json"], operator)).stdout) as Array<Record<string, unknown>>;
    expect(after.some((row) => row.pilotId === ids[2])).toBe(false);
  }, 90_000);
});
