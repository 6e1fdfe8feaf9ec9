import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAdapter, pilotCommand, readFactoryStatus, startFactory, type PilotCommandBuilder, type RunningFactory, type SubmitAdapter } from "../../pilot-factory/index.ts";
import { SCHEMA_VERSION, type FactoryQueue } from "../../schemas/index.ts";
import { testConfig } from "../support/namespace.ts";
import { openLiveServices, openNatsAs, type LiveServices } from "../support/live-services.ts";
import { RecordingTokens, publishCensus, queueKnobs, rememberLaunch, testRuntime, waitFor } from "./factory-fixture.ts";

const loaded = testConfig("factoryrestart");
const { names } = loaded;
let nc: NatsConnection;
let redis: RedisClient;
let live: LiveServices;
/** The pilots' side: census messages come from pilots. */
let pilots: NatsConnection;
const workDir = mkdtempSync(path.join(os.tmpdir(), "wms-factory-restart-"));
const fixture = fileURLToPath(new URL("./fixtures/lingering-pilot.ts", import.meta.url));
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const pids: number[] = [];

beforeAll(async () => {
  live = await openLiveServices(loaded, "factory-restart-test", { as: "factory" });
  ({ nc, redis } = live);
  pilots = await openNatsAs(loaded, "pilot", "factory-restart-test-pilots");
});

afterAll(async () => {
  await pilots?.close();
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await live.close();
  rmSync(workDir, { recursive: true, force: true });
});

/** The real command line with the stand-in script in place of bin/wms.mjs's `pilot`. */
const lingering: PilotCommandBuilder = (launch, runtime) => {
  rememberLaunch(launch);
  const cmd = pilotCommand(launch, runtime);
  return { command: process.execPath, args: ["--import", "tsx", fixture, ...cmd.args.slice(cmd.args.indexOf("pilot") + 1)], env: cmd.env };
};

const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

async function start(queue: FactoryQueue, adapter: SubmitAdapter, waiting: () => number, autoCycle: boolean): Promise<RunningFactory> {
  return startFactory({
    config: { schemaVersion: SCHEMA_VERSION, factoryId: "fac-restart", queues: [queue] },
    nc,
    redis,
    names,
    tokens: new RecordingTokens(redis, names),
    waitingJobs: async () => waiting(),
    runtime: testRuntime(loaded),
    workDir,
    adapterFor: () => adapter,
    pilotCommand: lingering,
    autoCycle,
  });
}

describe("a truthful census across a factory restart", () => {
  it("a factory restarted while its real pilot processes exit converges to the true count within one census interval", async () => {
    const censusSec = 4;
    const q = queueKnobs({ name: "restart", cycleSec: 0.5, censusSec, maxPerCycle: 3 });
    const first = new LocalAdapter({ env: { PATH: process.env.PATH }, cwd: repoRoot });
    let waiting = 3;
    const a = await start(q, first, () => waiting, false);
    const [r] = await a.cycleOnce();
    expect(r.submitted).toHaveLength(3);
    const procs = r.submitted.map((id) => first.started.get(id)?.pid ?? -1);
    pids.push(...procs);
    await waitFor("three pilots idle", async () => (await a.census("restart")).idle === 3, 30_000);
    // The jobs went elsewhere; the factory stops (its status still says three idle pilots).
    waiting = 0;
    await a.cycleOnce();
    await a.stop();
    // Two pilots exit while no factory listens: their exit census reaches nobody.
    process.kill(procs[0], "SIGTERM");
    process.kill(procs[1], "SIGTERM");
    await waitFor("two pilot processes ended", () => gone(procs[0]) && gone(procs[1]));
    expect((await readFactoryStatus(redis, names, "fac-restart")).queues[0]).toMatchObject({ idle: 3, lost: 0 });

    // A new factory process: nothing in memory of the old one, only what Redis holds.
    const restartedAt = Date.now();
    const b = await start(q, new LocalAdapter({ env: { PATH: process.env.PATH }, cwd: repoRoot }), () => waiting, true);
    // One census interval from when the new factory runs: its own start (connections, subscriptions)
    // is not what converges, and on a loaded CI machine it alone can take seconds.
    const upAt = Date.now();
    try {
      // The wait is generous; the bound is on the time of the status itself (written by the cycle).
      const converged = await waitFor(
        "the status to show one idle pilot and two missed",
        async () => {
          const s = (await readFactoryStatus(redis, names, "fac-restart")).queues[0];
          return s.at > restartedAt && s.idle === 1 && s.lost === 2 && s.pending === 0 ? s : undefined;
        },
        30_000,
      );
      expect(converged.at - upAt).toBeLessThanOrEqual(censusSec * 1000);
      expect(converged.exited).toBe(2);

      // The pilot still alive keeps its census going: after two census intervals it is still idle, not missed.
      await new Promise((resolve) => setTimeout(resolve, 2 * censusSec * 1000 + 500));
      expect(await b.census("restart")).toMatchObject({ idle: 1, lost: 2 });

      // Killed without a word while the factory runs: missed within one census interval.
      const killedAt = Date.now();
      process.kill(procs[2], "SIGKILL");
      const s = await waitFor(
        "the last pilot missed",
        async () => {
          const st = (await readFactoryStatus(redis, names, "fac-restart")).queues[0];
          return st.idle === 0 && st.lost === 3 ? st : undefined;
        },
        30_000,
      );
      expect(s.at - killedAt).toBeLessThanOrEqual(censusSec * 1000 + 1000);
    } finally {
      await b.stop();
    }
  }, 90_000);

  it("where the batch system cannot tell, a pilot silent for two census intervals is missed, and only once the factory has listened that long", async () => {
    let now = Date.now();
    const q = queueKnobs({ name: "expiry", censusSec: 10, maxPerCycle: 2 });
    // An adapter that starts nothing and cannot see its pilots: no query.
    const blind: SubmitAdapter = {
      kind: "condor",
      unavailable: () => undefined,
      submit: async (pilots) => {
        for (const p of pilots) rememberLaunch(p);
        return { submitted: pilots.map((p) => p.pilotId), failed: [], files: [] };
      },
    };
    const f = await startFactory({
      config: { schemaVersion: SCHEMA_VERSION, factoryId: "fac-expiry", queues: [q] },
      nc,
      redis,
      names,
      tokens: new RecordingTokens(redis, names),
      waitingJobs: async () => 2,
      runtime: testRuntime(loaded),
      workDir,
      adapterFor: () => blind,
      autoCycle: false,
      clock: () => now,
    });
    try {
      const [r] = await f.cycleOnce();
      const [talker, quiet] = r.submitted;
      publishCensus(pilots, names, talker, "idle");
      publishCensus(pilots, names, quiet, "idle");
      await waitFor("two idle", async () => (await f.census("expiry")).idle === 2);
      now += 15_000;
      publishCensus(pilots, names, talker, "idle");
      await waitFor("talker heard again", async () => Number(await redis.zscore(`${names.redisKey("factory", "{fac-expiry}", "q", "expiry", "heard")}`, talker)) >= now);
      await f.cycleOnce();
      expect(await f.census("expiry")).toMatchObject({ idle: 2, lost: 0 });
      now += 6_000;
      await f.cycleOnce();
      expect(await f.census("expiry")).toMatchObject({ idle: 1, lost: 1 });
      expect((await f.census("expiry")).pending).toBe(0);
    } finally {
      await f.stop();
    }
  });
});
