import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openNatsAs, openRedisAs } from "../support/live-services.ts";
import { localProcessState } from "../../pilot-factory/adapters/local-adapter.ts";
import { factoryKeys, readFactoryStatus, startFactory, type FactoryOptions, type PilotCommandBuilder, type RunningFactory } from "../../pilot-factory/index.ts";
import { ERR, isWmsError, SCHEMA_VERSION, type FactoryQueue } from "../../schemas/index.ts";
import { testConfig } from "../support/namespace.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { RecordingTokens, publishCensus, queueKnobs, rememberLaunch, silentPilot, testRuntime, waitFor } from "./factory-fixture.ts";

const loaded = testConfig("factorycycle");
const { names } = loaded;
let nc: NatsConnection;
let redis: RedisClient;
/** The pilots' side: census messages come from pilots. */
let pilots: NatsConnection;
const workDir = mkdtempSync(path.join(os.tmpdir(), "wms-factory-cycle-"));
const running: RunningFactory[] = [];
const frozenAt = Date.now();

beforeAll(async () => {
  nc = await openNatsAs(loaded, "factory", "factory-cycle-test");
  redis = openRedisAs(loaded, "factory");
  pilots = await openNatsAs(loaded, "pilot", "factory-cycle-pilots");
});

afterAll(async () => {
  await Promise.all(running.map((f) => f.stop()));
  await deleteNamespaceKeys(redis, names.namespace);
  await nc.close();
  await pilots.close();
  redis.disconnect();
  rmSync(workDir, { recursive: true, force: true });
});

async function factory(factoryId: string, queue: FactoryQueue, waiting: number, extra: Partial<FactoryOptions> = {}): Promise<{ f: RunningFactory; tokens: RecordingTokens }> {
  const tokens = new RecordingTokens(redis, names);
  const f = await startFactory({
    config: { schemaVersion: SCHEMA_VERSION, factoryId, queues: [queue] },
    nc,
    redis,
    names,
    tokens,
    waitingJobs: async () => waiting,
    runtime: testRuntime(loaded),
    workDir,
    pilotCommand: silentPilot,
    autoCycle: false,
    // A clock that stands still unless a test moves it: the silent pilots' processes end at once,
    // and the vanished-process check must not turn them into lost pilots mid-test on a slow machine.
    clock: () => frozenAt,
    ...extra,
  });
  running.push(f);
  return { f, tokens };
}

describe("factory cycles against real Redis and NATS", () => {
  it("keeps pending pilots within maxPending and all pilots within maxRunning, cycle after cycle", async () => {
    const q = queueKnobs({ name: "limits", targetIdle: 1, maxPending: 3, maxRunning: 5, maxPerCycle: 2 });
    const { f, tokens } = await factory("fac-limits", q, 100);
    const submittedPerCycle: number[] = [];
    const check = async (): Promise<void> => {
      const c = await f.census("limits");
      expect(c.pending).toBeLessThanOrEqual(3);
      expect(c.pending + c.idle + c.running).toBeLessThanOrEqual(5);
    };
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [r] = await f.cycleOnce();
      submittedPerCycle.push(r.submitted.length);
      ids.push(...r.submitted);
      await check();
    }
    expect(submittedPerCycle).toEqual([2, 1, 0]);
    // The three pending pilots start and take jobs.
    for (const id of ids) publishCensus(pilots, names, id, "running");
    await waitFor("three running", async () => (await f.census("limits")).running === 3);
    const [r4] = await f.cycleOnce();
    expect(r4.submitted).toHaveLength(2);
    await check();
    const [r5] = await f.cycleOnce();
    expect(r5.submitted).toHaveLength(0);
    expect(r5.decision.reason).toBe("max-running");
    await check();
    expect(tokens.minted).toHaveLength(5);
    expect(new Set(tokens.minted.map((t) => t.token)).size).toBe(5);
  });

  it("submits no pilot for a site without activated jobs whatever targetIdle says, and none more once targetIdle pilots sit idle", async () => {
    let waiting = 0;
    const q = queueKnobs({ name: "idle", targetIdle: 2 });
    const { f } = await factory("fac-idle", q, 0, { waitingJobs: async () => waiting });
    const [none] = await f.cycleOnce();
    expect(none.submitted).toHaveLength(0);
    expect(none.decision.reason).toBe("empty-pilot-cap");
    waiting = 5;
    const [first] = await f.cycleOnce();
    expect(first.submitted).toHaveLength(5);
    for (const id of first.submitted) publishCensus(pilots, names, id, "starting");
    await waitFor("five idle", async () => (await f.census("idle")).idle === 5);
    for (let i = 0; i < 3; i++) {
      const [r] = await f.cycleOnce();
      expect(r.submitted).toHaveLength(0);
      expect(r.decision.reason).toBe("idle-target-reached");
    }
    const status = (await readFactoryStatus(redis, names, "fac-idle")).queues[0];
    expect(status).toMatchObject({ queue: "idle", submitted: 5, idle: 5, pending: 0, waitingJobs: 5 });
  });

  it("counts exits and empty pilots from the census and ignores pilots it did not submit", async () => {
    const q = queueKnobs({ name: "census", targetIdle: 0 });
    const { f } = await factory("fac-census", q, 3);
    const [r] = await f.cycleOnce();
    expect(r.submitted).toHaveLength(3);
    const [a, b, c] = r.submitted;
    publishCensus(pilots, names, a, "running");
    publishCensus(pilots, names, a, "exited", { jobsDone: 1 });
    publishCensus(pilots, names, b, "exited", { emptyAdverts: 3 });
    publishCensus(pilots, names, c, "idle");
    publishCensus(pilots, names, "someone-elses-pilot", "exited");
    // A duplicate exit must not count twice.
    publishCensus(pilots, names, b, "exited", { emptyAdverts: 3 });
    const counts = await waitFor("census applied", async () => {
      const cn = await f.census("census");
      return cn.exited === 2 && cn.idle === 1 ? cn : undefined;
    });
    expect(counts).toMatchObject({ submitted: 3, pending: 0, idle: 1, running: 0, exited: 2, emptyPilots: 1 });
  });

  it("reaps pilots that never report within twice their lifetime as lost", async () => {
    let now = Date.now();
    const q = queueKnobs({ name: "lost", pilotLifetimeSec: 10, maxPerCycle: 1 });
    const { f } = await factory("fac-lost", q, 1, { clock: () => now });
    const [r] = await f.cycleOnce();
    expect(r.submitted).toHaveLength(1);
    now += 21_000;
    await f.cycleOnce();
    expect(await f.census("lost")).toMatchObject({ lost: 1, exited: 1, emptyPilots: 0 });
  });

  it("counts a pilot holding unsent reports as busy, not idle, and does not give it up by age while it is alive and heard from", async () => {
    let now = Date.now();
    const q = queueKnobs({ name: "held", pilotLifetimeSec: 10, maxPerCycle: 1, targetIdle: 1, censusSec: 5 });
    // A pilot process that lives through the test, so the batch system's view says it runs.
    const sleeping: PilotCommandBuilder = (launch, runtime) => {
      rememberLaunch(launch);
      return { command: "/bin/sleep", args: ["60"], env: { WMS_PILOT_TOKEN: launch.token, WMS_NAMESPACE: runtime.namespace } };
    };
    const { f } = await factory("fac-held", q, 2, { clock: () => now, pilotCommand: sleeping });
    const [r] = await f.cycleOnce();
    expect(r.submitted).toHaveLength(1);
    const [id] = r.submitted;
    const keys = factoryKeys(names, "fac-held");
    try {
      // It says idle (an older pilot, or between jobs) but holds 2 reports: it takes no job, so the
      // waiting jobs still want pilots and targetIdle is not met by it.
      publishCensus(pilots, names, id, "idle", { heldReports: 2 });
      await waitFor("census applied", async () => (await f.census("held")).running === 1);
      expect(await f.census("held")).toMatchObject({ idle: 0, running: 1, pending: 0 });
      const [second] = await f.cycleOnce();
      expect(second.submitted).toHaveLength(1);
      // Past twice its lifetime, still holding reports and heard within the census expiry: kept.
      now += 21_000;
      publishCensus(pilots, names, id, "running", { heldReports: 1 });
      await waitFor("census heard", async () => Number(await redis.zscore(keys.queue("held").heard, id)) === now);
      await f.cycleOnce();
      expect(await redis.hmget(keys.pilot(id), "state", "cause", "heldReports")).toEqual(["running", "census", "1"]);
      expect(await f.census("held")).toMatchObject({ running: 1 });
      // Silent since then for longer than the census expiry: now it is given up.
      now += 11_000;
      await f.cycleOnce();
      expect(await redis.hmget(keys.pilot(id), "state", "cause")).toEqual(["exited", "lost"]);
    } finally {
      // Every pilot process the test's cycles started (the factory's index of its pilots at the site).
      for (const p of await redis.zrange(keys.sitePilots("SITE_A"), 0, -1)) {
        const batchId = await redis.hget(keys.pilot(p), "batchId");
        if (batchId && localProcessState(batchId) === "running") process.kill(Number(batchId.split("@")[0]), "SIGKILL");
      }
    }
  });

  it("for a condor queue where condor_submit is missing, mints and submits nothing and says why in the status", async () => {
    const emptyPath = mkdtempSync(path.join(workDir, "nopath-"));
    const q = queueKnobs({ name: "condorq", adapter: "condor" });
    const { f, tokens } = await factory("fac-condor", q, 10, { pilotCommand: undefined, env: { PATH: emptyPath } });
    const [r] = await f.cycleOnce();
    expect(r.submitted).toHaveLength(0);
    expect(r.error?.code).toBe(ERR.FACTORY_SUBMIT_TOOL_MISSING);
    expect(tokens.minted).toHaveLength(0);
    const status = (await readFactoryStatus(redis, names, "fac-condor")).queues[0];
    expect(status.lastError?.code).toBe(ERR.FACTORY_SUBMIT_TOOL_MISSING);
    expect(status.pending).toBe(0);
  });

  it("submits within 10% of pilotsPerMinute over a minute of driven clock, and its status shows the measured rate", async () => {
    let now = frozenAt;
    // The silent pilots are never heard from, so they go missed as the clock moves: the breaker
    // is kept out of this measurement of the rate alone.
    const q = queueKnobs({ name: "rate", pilotsPerMinute: 30, cycleSec: 2, maxPending: 1000, maxRunning: 1000, maxPerCycle: 100, breakerAfter: 1000 });
    const { f, tokens } = await factory("fac-rate", q, 10_000, { clock: () => now });
    let submitted = 0;
    for (let t = 0; t < 60_000; t += 2000) {
      now = frozenAt + t;
      const [r] = await f.cycleOnce();
      submitted += r.submitted.length;
    }
    expect(Math.abs(submitted - 30)).toBeLessThanOrEqual(3);
    expect(tokens.minted).toHaveLength(submitted);
    const status = (await readFactoryStatus(redis, names, "fac-rate")).queues[0];
    expect(status.targetPerMin).toBe(30);
    expect(Math.abs(status.ratePerMin - 30)).toBeLessThanOrEqual(3);
  }, 60_000);

  it("refuses a second process for the same factory id while the first runs, and lets one start after it stopped", async () => {
    const q = queueKnobs({ name: "single" });
    const { f } = await factory("fac-single", q, 0);
    const second = await factory("fac-single", q, 0).catch((e: unknown) => e);
    expect(isWmsError(second) && second.code).toBe(ERR.FACTORY_ALREADY_RUNNING);
    await f.stop();
    const { f: again } = await factory("fac-single", q, 0);
    expect(again.factoryId).toBe("fac-single");
  });
});
