// Costs that should stay flat as the grid grows (sites, shapes per site, queued jobs), each figure
// from one run of a real `wms matchmaker` process (the same composition root users start) against
// a PRIVATE redis-server, so CLIENT LIST and INFO memory count only this suite's clients and keys.
// NATS is the shared loopback server under a namespace of the suite's own. Jobs are recorded and
// queued as the intake does (JobStore.createTask + DispatchQueues.enqueue, intake-sealed specs).
// These are measurements of where the design stands: `met` says whether the target holds today.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "nats";
import type { Redis } from "ioredis";
import { loadConfig } from "../../platform/config.ts";
import { openNats, openRedis } from "../../platform/connections.ts";
import { singleServer } from "../../platform/redis-client.ts";
import { startPrivateRedis } from "../../platform/local-services.ts";
import { SCHEMA_VERSION, type JobSpec, type WireNames, type WmsConfig } from "../../schemas/index.ts";
import { generatePilotKeyPair, initPki, JOB_SPEC_SEAL_PURPOSE, PilotTokenStore, sealJobSpec, ServiceSealer, pkiSealKeys } from "../../security/index.ts";
import { DispatchQueues, JobStore, jobKeys } from "../../jobs/index.ts";
import { processCpuSec } from "../../site-authz/index.ts";
import { benchJob, type BenchSuite } from "./suite.ts";
import { runningJobsHeld } from "./scale-heartbeats.ts";

const WMS_BIN = fileURLToPath(new URL("../../bin/wms.mjs", import.meta.url));
/** Queued jobs for the memory figure (`scale.redisBytesPerQueuedJob`): enough that the per-job bytes dwarf Redis's fixed overhead. */
const MEMORY_JOBS = 100_000;
const MEMORY_SITES = 50;
const CPU_JOBS = 2000;
const CPU_MATCHES = 1200;
const CPU_PILOTS = 16;
/**
 * `WMS_BENCH_SCALE_PARTS=heartbeats` (comma-separated: memory, queues, cpu, heartbeats) runs only
 * those parts of the suite; the default is all of them.
 */
const PARTS = new Set((process.env.WMS_BENCH_SCALE_PARTS ?? "memory,queues,cpu,heartbeats").split(",").map((x) => x.trim()));
const TARGETS = { connectionsMax: 8, cpuRatioMax: 1.5, startupRatioMax: 2, bytesPerJobMax: 1024 };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Ctx {
  readonly dir: string;
  readonly config: WmsConfig;
  readonly names: WireNames;
  readonly configPath: string;
  readonly redis: Redis;
  readonly nc: NatsConnection;
  readonly seal: (s: JobSpec) => JobSpec;
  readonly publicKey: string;
  readonly privateKey: string;
}

/** `sites` × `shapes` dispatch queues (one task per queue; shapes differ in memory), `perQueue` jobs each. */
async function queueJobs(c: Ctx, sites: number, shapes: number, perQueue: number): Promise<void> {
  const store = new JobStore(c.redis, c.names);
  const dq = new DispatchQueues({ redis: c.redis, names: c.names, lockMs: 600_000, stalledIntervalMs: 600_000 });
  try {
    for (let s = 0; s < sites; s++) {
      for (let a = 0; a < shapes; a++) {
        const taskId = `s${s}m${a}`;
        const specs = Array.from({ length: perQueue }, (_, i) => c.seal(benchJob(taskId, i, `SCALE_${s}`, { memoryMb: 1000 + a, requirements: 'TARGET.OpSys == "LINUX" && TARGET.Memory >= 1000' })));
        await store.createTask(
          { taskId, taskName: taskId, kind: "production", vo: "atlas", group: "atlas/prod", ownerDn: specs[0].userDn, priority: 100, maxAttempts: 3, outputDataset: "bench.out" },
          specs.map((x) => ({ spec: x, state: "activated" as const })),
        );
        await dq.enqueue(specs);
      }
    }
  } finally {
    await dq.close();
  }
}

async function advertTexts(c: Ctx, n: number): Promise<string[]> {
  const tokens = new PilotTokenStore(c.redis, c.names);
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const site = "SCALE_0";
      const pilotId = `scale-pilot-${i}`;
      const token = await tokens.mint({ site, factoryId: "bench", uses: 10_000, ttlSec: 3600 });
      const classad = `[ MyType = "Machine"; PilotId = "${pilotId}"; Site = "${site}"; Cpus = 8; Memory = 16000; WalltimeLeft = 86400; OpSys = "LINUX"; Requirements = TARGET.WalltimeSec <= MY.WalltimeLeft && TARGET.Cores <= MY.Cpus && TARGET.MemoryMb <= MY.Memory ]`;
      return JSON.stringify({ schemaVersion: SCHEMA_VERSION, pilotId, site, token, classad, publicKey: c.publicKey, sentAt: Date.now() });
    }),
  );
}

/** One advert: "match", "nomatch", or "none" when no matchmaker answered; a refusal fails the suite. */
async function advert(c: Ctx, text: string, timeoutMs: number): Promise<"match" | "nomatch" | "none"> {
  let data: Uint8Array;
  try {
    data = (await c.nc.request(c.names.advertFor("SCALE_0"), encoder.encode(text), { timeout: timeoutMs })).data;
  } catch {
    return "none"; // no matchmaker listening yet
  }
  const r = JSON.parse(decoder.decode(data)) as { status: string; code?: number; message?: string };
  if (r.status === "error") throw new Error(`scale bench: advert refused: E${r.code} ${r.message}`);
  return r.status === "match" ? "match" : "nomatch";
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()));
}

async function clientCount(redis: Redis): Promise<number> {
  return ((await redis.call("CLIENT", "LIST")) as string).split("\n").filter((l) => l.trim()).length;
}

interface MatchmakerRun {
  /** From spawn to the first advert answered with a job, ms. */
  startupMs: number;
  /** From spawn to the first answer of any kind (the process is up and subscribed), ms. */
  firstReplyMs: number;
  /** Redis connections the matchmaker holds once it has answered and settled. */
  connections: number;
  /** Matchmaker CPU per match over `matches` adverts (when asked). */
  cpuUsPerMatch?: number;
}

/** Starts `wms matchmaker` on what is queued now, measures, stops it. */
async function runMatchmaker(c: Ctx, o: { cpuMatches?: number }): Promise<MatchmakerRun> {
  const texts = await advertTexts(c, CPU_PILOTS);
  const before = await clientCount(c.redis);
  const t0 = performance.now();
  const child = spawn(process.execPath, [WMS_BIN, "--config", c.configPath, "matchmaker"], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_REDIS_URL: undefined, WMS_LOG_LEVEL: "warn" },
  });
  try {
    let firstReplyMs: number | undefined;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`scale bench: the matchmaker exited (${child.exitCode})`);
      const got = await advert(c, texts[0], 2000);
      if (got !== "none") firstReplyMs ??= performance.now() - t0;
      if (got === "match") break;
      if (performance.now() - t0 > 180_000) throw new Error("scale bench: no match within 180 s of starting the matchmaker");
      await new Promise((r) => setTimeout(r, 20));
    }
    const startupMs = performance.now() - t0;
    // A few more adverts and a pause, so connections opened lazily (per queue, per worker) are counted.
    for (let i = 0; i < 20; i++) await advert(c, texts[i % texts.length], 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    const connections = (await clientCount(c.redis)) - before;
    let cpuUsPerMatch: number | undefined;
    if (o.cpuMatches) {
      const pid = child.pid ?? 0;
      const cpu0 = (await processCpuSec(pid)) ?? 0;
      let matches = 0;
      let sent = 0;
      await Promise.all(
        texts.map(async (t) => {
          while (sent < o.cpuMatches!) {
            sent++;
            if ((await advert(c, t, 30_000)) === "match") matches++;
          }
        }),
      );
      cpuUsPerMatch = Math.round((((await processCpuSec(pid)) ?? 0) - cpu0) * 1e6 / Math.max(1, matches));
    }
    return { startupMs: Math.round(startupMs), firstReplyMs: Math.round(firstReplyMs ?? startupMs), connections, ...(cpuUsPerMatch !== undefined ? { cpuUsPerMatch } : {}) };
  } finally {
    child.kill("SIGTERM");
    await exited(child);
  }
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info("memory");
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

export const scaleSuite: BenchSuite = {
  key: "scale",
  async run() {
    const namespace = `benchscale${randomBytes(3).toString("hex")}`;
    const dir = mkdtempSync(join(tmpdir(), "wms-bench-scale-"));
    const server = await startPrivateRedis(join(dir, "redis"));
    const { config, names } = loadConfig({ overrides: { namespace }, env: { WMS_REDIS_URL: server.url, WMS_NAMESPACE: namespace } });
    initPki(dir);
    const configPath = join(dir, "wms.yaml");
    // The time budget per advert is wall-clock: on a loaded 2-core machine a cold match over 100
    // shapes can pass the default 100 ms and be refused (E1506), which would end the CPU figure
    // rather than measure it. The step budget, which does not depend on the machine, stays.
    writeFileSync(configPath, JSON.stringify({ ...config, namespace, pki: { dir }, logLevel: "warn", matchmaker: { ...config.matchmaker, matchBudgetMs: 5000 } }));
    const redis = singleServer(openRedis(config), "the scale bench");
    const nc = await openNats(config, "bench-scale");
    try {
      const sealer = new ServiceSealer(pkiSealKeys(dir).jobSpec, JOB_SPEC_SEAL_PURPOSE);
      const pilotKeys = generatePilotKeyPair();
      const c: Ctx = { dir, config, names, configPath, redis, nc, seal: (x) => sealJobSpec(sealer, x), publicKey: pilotKeys.publicKeyPem, privateKey: pilotKeys.privateKeyPem };
      // An empty server for each scenario.
      const fresh = async (): Promise<void> => {
        await redis.flushall();
      };

      const out: Record<string, number | string> = {};
      const r2 = (x: number): number => Math.round(x * 100) / 100;

      if (PARTS.has("memory")) {
        // Redis bytes per queued job: INFO used_memory before and after queueing, as the intake queues.
        await fresh();
        const mem0 = await usedMemory(redis);
        await queueJobs(c, MEMORY_SITES, 2, MEMORY_JOBS / (MEMORY_SITES * 2));
        const bytesPerJob = Math.round(((await usedMemory(redis)) - mem0) / MEMORY_JOBS);
        // What a queued job's bytes are: its record, its ready-set entry, its id in its task's list
        // (MEMORY USAGE of one task's keys and one site's ready set, per job).
        const k = jobKeys(names);
        const task = k.task("s0m0");
        const perTask = MEMORY_JOBS / (MEMORY_SITES * 2);
        const ids = await redis.lrange(task.jobs, 0, 49);
        const recordBytes = Math.round((await Promise.all(ids.map((id) => redis.memory("USAGE", task.job(id), "SAMPLES", 0)))).reduce<number>((a, b) => a + (b ?? 0), 0) / Math.max(1, ids.length));
        const site = k.site("SCALE_0");
        const acs = await redis.hkeys(site.acs);
        const readyBytes = Math.round(((await redis.memory("USAGE", site.ready(acs[0]), "SAMPLES", 0)) ?? 0) / Math.max(1, await redis.zcard(site.ready(acs[0]))));
        const listBytes = Math.round(((await redis.memory("USAGE", task.jobs, "SAMPLES", 0)) ?? 0) / perTask);
        const tplBytes = (await redis.memory("USAGE", task.tpl, "SAMPLES", 0)) ?? 0;
        process.stderr.write(`scale: ${MEMORY_JOBS} jobs queued, ${bytesPerJob} bytes each (record ${recordBytes}, ready entry ${readyBytes}, task list ${listBytes}, template ${tplBytes} per task)\n`);
        Object.assign(out, {
          redisBytesPerQueuedJob: bytesPerJob,
          redisBytesJobRecord: recordBytes,
          redisBytesReadyEntry: readyBytes,
          redisBytesTaskListEntry: listBytes,
          redisBytesTaskTemplate: tplBytes,
          redisBytesNote: `INFO used_memory delta over ${MEMORY_JOBS.toLocaleString("en-US")} queued jobs (${MEMORY_SITES} sites x 2 shapes, one task each), divided per job; the job record, ready-set entry and task-list entry are MEMORY USAGE per job, the template once per task`,
          redisBytesTarget: `<= ${TARGETS.bytesPerJobMax}`,
          redisBytesMet: String(bytesPerJob <= TARGETS.bytesPerJobMax),
        });
      }

      if (PARTS.has("queues")) {
        // Connections and start-up at 10, 1,000 and 2,000 queues (sites × 2 shapes, one job each).
        const byQueues: Record<number, MatchmakerRun> = {};
        for (const queues of [10, 1000, 2000]) {
          await fresh();
          await queueJobs(c, queues / 2, 2, 1);
          byQueues[queues] = await runMatchmaker(c, {});
          process.stderr.write(`scale: ${queues} queues: ${JSON.stringify(byQueues[queues])}\n`);
        }
        const conn10 = byQueues[10].connections;
        const conn1000 = byQueues[1000].connections;
        const startupRatio = byQueues[2000].startupMs / Math.max(1, byQueues[10].startupMs);
        Object.assign(out, {
          connections10: conn10,
          connections1000: conn1000,
          connections2000: byQueues[2000].connections,
          connectionsTarget: `equal and <= ${TARGETS.connectionsMax}`,
          connectionsMet: String(conn10 === conn1000 && conn1000 <= TARGETS.connectionsMax),
          startupMs10: byQueues[10].startupMs,
          startupMs2000: byQueues[2000].startupMs,
          // Process start to its first answer of any kind: the part of start-up no queue count explains.
          firstReplyMs10: byQueues[10].firstReplyMs,
          firstReplyMs2000: byQueues[2000].firstReplyMs,
          startupRatio: r2(startupRatio),
          startupTarget: `ratio <= ${TARGETS.startupRatioMax}`,
          startupMet: String(startupRatio <= TARGETS.startupRatioMax),
        });
      }

      if (PARTS.has("cpu")) {
        // CPU per match at one site with 1 and with 100 shapes (autoclusters), the same jobs in total.
        const cpu: Record<number, number> = {};
        for (const shapes of [1, 100]) {
          await fresh();
          await queueJobs(c, 1, shapes, CPU_JOBS / shapes);
          cpu[shapes] = (await runMatchmaker(c, { cpuMatches: CPU_MATCHES })).cpuUsPerMatch ?? -1;
          process.stderr.write(`scale: ${shapes} shapes: ${cpu[shapes]} us/match\n`);
        }
        const cpuRatio = cpu[100] / Math.max(1, cpu[1]);
        Object.assign(out, {
          cpuPerMatch1: cpu[1],
          cpuPerMatch100: cpu[100],
          cpuRatio: r2(cpuRatio),
          cpuTarget: `ratio <= ${TARGETS.cpuRatioMax}`,
          cpuMet: String(cpuRatio <= TARGETS.cpuRatioMax),
        });
      }

      if (PARTS.has("heartbeats")) {
        Object.assign(out, await runningJobsHeld({ dir, config, names, redis, nc, publicKey: c.publicKey, privateKey: c.privateKey, wmsBin: WMS_BIN, fresh, queueJobs: (sites, shapes, perQueue) => queueJobs(c, sites, shapes, perQueue) }));
      }
      return out;
    } finally {
      await nc.close();
      redis.disconnect();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
