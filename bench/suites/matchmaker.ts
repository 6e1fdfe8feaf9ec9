// End-to-end matchmaking: pilots' adverts over NATS to a `wms matchmaker` process (its own
// process, so its RSS is its own), answered with claimed, signed envelopes; 100,000 queued jobs
// over 50 sites. Baseline in the same run: a plain BullMQ Worker draining the same job payloads
// with no matching, token, key or signature.
import { execFileSync, fork, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { loadConfig, readIdentityFile } from "../../platform/config.ts";
import { startPrivateNats, startPrivateRedis, type ServerTls } from "../../platform/local-services.ts";
import { openRedis } from "../../platform/connections.ts";
import { singleServer } from "../../platform/redis-client.ts";
import { SCHEMA_VERSION, wireNames, type JobSpec, type WireNames, type WmsConfig } from "../../schemas/index.ts";
import type { SwarmCommand, SwarmPilot, SwarmResult } from "../pilot-swarm.ts";
import { GcTrace } from "../gc-trace.ts";
import { generatePilotKeyPair, initPki, initTransportSecrets, JOB_SPEC_SEAL_PURPOSE, PilotTokenStore, pkiSealKeys, sealJobSpec, ServiceSealer, type TransportRole } from "../../security/index.ts";
import { DispatchQueues, JobStore } from "../../jobs/index.ts";
import { processCpuSec, processRssKb } from "../../site-authz/index.ts";
import { benchJob, type BenchSuite } from "./suite.ts";

const SITES = 50;
const TOTAL = 100_000;
const FIRST = 10_000;
const PEAK_CONCURRENCY = 64;
const PEAK_MS = 8000;
const LATENCY_MS = 6000;
const BASELINE_JOBS = 10_000;
/** Queued afresh for the plumbing floor, which runs for FLOOR_MS (closed loop), then LATENCY_MS at the latency rate, on jobs of its own. */
const FLOOR_JOBS = 75_000;
const FLOOR_MS = 4000;
/** The TLS-and-authentication comparison: jobs queued and closed-loop time per run (three runs). */
const TRANSPORT_JOBS = 10_000;
const TRANSPORT_MS = 5000;
const TRANSPORT_FLOOR_JOBS = 30_000;
const WMS_BIN = fileURLToPath(new URL("../../bin/wms.mjs", import.meta.url));
const SWARM_MODULE = fileURLToPath(new URL("../pilot-swarm.ts", import.meta.url));
const FLOOR_MODULE = fileURLToPath(new URL("../plumbing-floor.ts", import.meta.url));

/** Queues `n` jobs spread over the sites (two autoclusters each), recorded in the JobStore, sealed as the intake seals them. */
async function queueJobs(store: JobStore, dq: DispatchQueues, tag: string, n: number, seal: (s: JobSpec) => JobSpec): Promise<JobSpec[]> {
  const out: JobSpec[] = [];
  const perTask = n / (SITES * 2);
  for (let s = 0; s < SITES; s++) {
    for (const cores of [1, 8]) {
      const taskId = `${tag}s${s}c${cores}`;
      const specs = Array.from({ length: perTask }, (_, i) => seal(benchJob(taskId, i, `BENCH_${s}`, { cores, environment: { ATHENA_CORES: String(cores) } })));
      await store.createTask(
        { taskId, taskName: taskId, kind: "production", vo: "atlas", group: "atlas/prod", ownerDn: specs[0].userDn, priority: 100, maxAttempts: 3, outputDataset: "bench.out" },
        specs.map((x) => ({ spec: x, state: "activated" as const })),
      );
      await dq.enqueue(specs);
      out.push(...specs);
    }
  }
  return out;
}

/**
 * The plumbing floor's own jobs, with records as an intake writes them: a claim moves the record
 * (activated -> sent), and an entry with no record is dropped, not matched (the floor measured
 * nothing but leftover matchmaker jobs when its entries had none).
 */
async function queueFloorJobs(store: JobStore, dq: DispatchQueues, n: number): Promise<void> {
  const specs = Array.from({ length: n }, (_, i) => benchJob("floor", i, `BENCH_${i % SITES}`, { environment: { ATHENA_CORES: "1" } }));
  const taskId = specs[0].taskId;
  await store.createTask({ taskId, taskName: taskId, kind: "production", vo: "atlas", group: "atlas/prod", ownerDn: specs[0].userDn, priority: 100, maxAttempts: 3, outputDataset: "bench.out" }, specs.map((x) => ({ spec: x, state: "activated" as const })));
  await dq.enqueue(specs);
}

function machineAd(pilotId: string, site: string): string {
  return `[ MyType = "Machine"; PilotId = "${pilotId}"; Site = "${site}"; Cpus = 8; Memory = 16000; WalltimeLeft = 86400; OpSys = "LINUX"; Requirements = TARGET.WalltimeSec <= MY.WalltimeLeft && TARGET.Cores <= MY.Cpus && TARGET.MemoryMb <= MY.Memory ]`;
}

async function makePilots(tokens: PilotTokenStore, n: number): Promise<SwarmPilot[]> {
  const publicKey = generatePilotKeyPair().publicKeyPem;
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const site = `BENCH_${i % SITES}`;
      const pilotId = `bench-pilot-${i}`;
      const token = await tokens.mint({ site, factoryId: "bench", uses: 10_000, ttlSec: 3600 });
      return { site, text: JSON.stringify({ schemaVersion: SCHEMA_VERSION, pilotId, site, token, classad: machineAd(pilotId, site), publicKey, sentAt: Date.now() }) };
    }),
  );
}

/** The simulated pilots' process, one command at a time over IPC. */
class PilotSwarm {
  private constructor(private readonly child: ChildProcess) {}

  /** `env`: extra environment, e.g. WMS_CONFIG naming the pilots' TLS and identity settings. */
  static start(env: NodeJS.ProcessEnv = {}): PilotSwarm {
    // Inherits `--import tsx` (execArgv) from the bench process.
    const child = fork(SWARM_MODULE, [], { execArgv: [...process.execArgv, ...(process.env.WMS_BENCH_SWARM_NODE_ARGS?.split(" ").filter(Boolean) ?? [])], stdio: ["ignore", "ignore", "inherit", "ipc"], env: { ...process.env, ...env } });
    // The pilots are the stopwatch: on this shared 2-core box the scheduler would otherwise park
    // them for tens of ms behind the matchmaker, Redis and NATS, and that wait would be reported as
    // matchmaker latency. Raising their priority needs root; without it the bench runs as is.
    try {
      setPriority(child.pid ?? 0, -5);
    } catch {
      // not permitted: measured at normal priority (see pilotsMaxSendLagMs in the output)
    }
    return new PilotSwarm(child);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  call(cmd: SwarmCommand): Promise<Extract<SwarmResult, { ok: true }>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`the pilot swarm exited (${code ?? "signal"})`));
      this.child.once("exit", onExit);
      this.child.once("message", (r: SwarmResult) => {
        this.child.off("exit", onExit);
        if (r.ok) resolve(r);
        else reject(new Error(r.error));
      });
      this.child.send(cmd);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    await this.call({ op: "stop" }).catch(() => this.child.kill("SIGKILL"));
  }
}

/** Waits until a freshly started matchmaker answers one advert (up to ~20 s), or rethrows its last refusal. */
async function untilAnswering(swarm: PilotSwarm): Promise<void> {
  for (let tries = 0; ; tries++) {
    try {
      await swarm.call({ op: "rounds", rounds: 1, checked: true, single: true });
      return;
    } catch (e) {
      if (tries > 100) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Starts the plumbing-floor responder (bench/plumbing-floor.ts) and waits until it listens. */
function startFloor(namespace: string, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const child = fork(FLOOR_MODULE, [namespace], { stdio: ["ignore", "ignore", "inherit", "ipc"], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    child.once("message", () => resolve(child));
    child.once("exit", (code) => reject(new Error(`the plumbing-floor responder exited (${code ?? "signal"})`)));
  });
}

async function rssMb(pid: number): Promise<number> {
  return Math.round((await processRssKb(pid)) / 1024);
}

async function cpuSec(pid: number): Promise<number> {
  return (await processCpuSec(pid)) ?? 0;
}

/** Whole-machine busy and total jiffies, to tell a CPU-bound run from one waiting on round trips. */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

function pidOf(name: string): number | undefined {
  try {
    return Number(execFileSync("pidof", ["-s", name], { encoding: "utf8" }).trim()) || undefined;
  } catch {
    return undefined;
  }
}

async function redisCpuSec(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const read = (k: string): number => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return read("used_cpu_user") + read("used_cpu_sys");
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return -1;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function baseline(bull: Redis, names: WireNames, jobs: JobSpec[]): Promise<number> {
  const name = "bench-baseline";
  const q = new Queue(name, { connection: bull, prefix: names.bullPrefix });
  for (let i = 0; i < jobs.length; i += 2000) {
    await q.addBulk(jobs.slice(i, i + 2000).map((s) => ({ name: "job", data: s, opts: { jobId: s.jobId, removeOnComplete: true, removeOnFail: true } })));
  }
  let done = 0;
  const t0 = performance.now();
  const finished = new Promise<void>((resolve) => {
    const w = new Worker(name, async () => undefined, { connection: bull.duplicate(), prefix: names.bullPrefix, concurrency: PEAK_CONCURRENCY });
    w.on("completed", () => {
      if (++done === jobs.length) void w.close().then(() => resolve());
    });
  });
  await finished;
  const rate = jobs.length / ((performance.now() - t0) / 1000);
  await q.obliterate({ force: true });
  await q.close();
  return rate;
}

async function deleteNamespace(redis: Redis, ns: string): Promise<void> {
  for (const pattern of [`${ns}:*`, `{${ns}}*`]) {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  }
}

/** A server certificate for 127.0.0.1 (its own CA), made with the openssl command line. */
function serverTls(dir: string): ServerTls & { readonly caFile: string } {
  const certFile = join(dir, "server.cert.pem");
  const keyFile = join(dir, "server.key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stdio: "ignore" });
  return { certFile, keyFile, caFile: certFile };
}

interface TransportRun {
  readonly matchesPerSec: number;
  readonly plumbingFloorPerSec: number;
  readonly matchmakerCpuUsPerMatch: number;
}

/**
 * The same matchmaker, pilots and floor against private servers: plain (no TLS, no users) or
 * secured (NATS and Redis over TLS, each process as its role's user from `wms secrets init`, so
 * with subject permissions and Redis ACLs checked on every command). Smaller than the main run:
 * it measures the ratio of the two, run one after the other on the same machine.
 */
async function transportRun(secured: boolean, work: string, base: { readonly config: WmsConfig; readonly pkiDir: string }): Promise<TransportRun> {
  const namespace = `benchtls${randomBytes(3).toString("hex")}`;
  const names = wireNames(namespace);
  const dir = join(work, secured ? "tls" : "plain");
  mkdirSync(dir, { recursive: true });
  const tls = secured ? serverTls(dir) : undefined;
  const secrets = secured ? initTransportSecrets(join(dir, "secrets"), names) : undefined;
  const stops: Array<() => Promise<void>> = [];
  let child: ChildProcess | undefined;
  let swarm: PilotSwarm | undefined;
  let floor: ChildProcess | undefined;
  let redis: Redis | undefined;
  let dq: DispatchQueues | undefined;
  try {
    const nats = await startPrivateNats(join(dir, "nats"), secured ? { authConfig: secrets?.natsConfig, tls } : {});
    stops.push(nats.stop);
    const redisServer = await startPrivateRedis(join(dir, "redis"), secured ? { aclFile: secrets?.redisAclFile, tls } : {});
    stops.push(redisServer.stop);
    const identity = (role: TransportRole): Record<"nats" | "redis" | "rabbitmq", Record<string, unknown>> => {
      const file = secrets?.roles.find((r) => r.role === role)?.identityFile;
      return file === undefined ? { nats: {}, redis: {}, rabbitmq: {} } : readIdentityFile(file);
    };
    // Each process's config: NATS as one role, Redis as another (pilots hold no Redis user; the
    // simulated pilots also hand their jobs back in Redis themselves, so they use the matchmaker's).
    const configFile = (name: string, natsRole: TransportRole, redisRole: TransportRole): string => {
      const file = join(dir, `${name}.json`);
      const ca = tls ? { tls: { ca: tls.caFile } } : {};
      const doc = {
        ...base.config,
        namespace,
        pki: { dir: base.pkiDir },
        logLevel: "warn",
        matchmaker: { ...base.config.matchmaker, matchBudgetMs: 5000 },
        // The simulated pilots never heartbeat, so no claim is ever confirmed: with lease checks every
        // 30 s they would be given back after their short first lease and claimed again mid-run.
        jobs: { ...base.config.jobs, leaseCheckSec: 3600 },
        nats: { url: nats.url, ...identity(natsRole).nats, ...ca },
        redis: { url: redisServer.url, ...identity(redisRole).redis, ...ca },
      };
      writeFileSync(file, JSON.stringify(doc), { mode: 0o600 });
      return file;
    };
    const mmConfig = configFile("matchmaker", "matchmaker", "matchmaker");
    const pilotsConfig = configFile("pilots", "pilot", "matchmaker");
    const { config } = loadConfig({ path: mmConfig, env: {} });
    redis = singleServer(openRedis(config), "the matchmaker bench");
    dq = new DispatchQueues({ redis, names, lockMs: 600_000, stalledIntervalMs: 600_000 });
    const sealer = new ServiceSealer(pkiSealKeys(base.pkiDir).jobSpec, JOB_SPEC_SEAL_PURPOSE);
    await queueJobs(new JobStore(redis, names), dq, "t", TRANSPORT_JOBS, (x) => sealJobSpec(sealer, x));
    child = spawn(process.execPath, [WMS_BIN, "--config", mmConfig, "matchmaker"], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_IDENTITY_FILE: undefined } });
    const pid = child.pid ?? 0;
    swarm = PilotSwarm.start({ WMS_CONFIG: pilotsConfig, WMS_NAMESPACE: undefined, WMS_IDENTITY_FILE: undefined });
    await swarm.call({ op: "init", namespace, pilots: await makePilots(new PilotTokenStore(redis, names), PEAK_CONCURRENCY) });
    await untilAnswering(swarm);
    await swarm.call({ op: "rounds", rounds: Math.ceil(500 / PEAK_CONCURRENCY), checked: true });
    const cpu0 = await cpuSec(pid);
    const peak = await swarm.call({ op: "closed", ms: TRANSPORT_MS });
    const matchmakerCpuUsPerMatch = Math.round((((await cpuSec(pid)) - cpu0) * 1e6) / Math.max(1, peak.matches));
    child.kill("SIGTERM");
    await exited(child);
    await queueFloorJobs(new JobStore(redis, names), dq, TRANSPORT_FLOOR_JOBS);
    floor = await startFloor(namespace, { WMS_CONFIG: mmConfig, WMS_NAMESPACE: undefined, WMS_IDENTITY_FILE: undefined });
    const floorRun = await swarm.call({ op: "closed", ms: FLOOR_MS });
    return { matchesPerSec: peak.matches / (peak.elapsedMs / 1000), plumbingFloorPerSec: floorRun.matches / (floorRun.elapsedMs / 1000), matchmakerCpuUsPerMatch };
  } finally {
    await swarm?.stop();
    child?.kill("SIGTERM");
    if (child) await exited(child);
    floor?.kill("SIGTERM");
    if (floor) await exited(floor);
    await dq?.close();
    redis?.disconnect();
    await Promise.allSettled(stops.map((s) => s()));
  }
}

/** Plain, then TLS and authentication, then plain again: the ratio against the mean of the plain runs cancels a drift of the machine. */
async function transportCost(pkiDir: string, config: WmsConfig): Promise<Record<string, number>> {
  const work = mkdtempSync(join(tmpdir(), "wms-bench-tls-"));
  try {
    const plain1 = await transportRun(false, join(work, "1"), { config, pkiDir });
    const secured = await transportRun(true, join(work, "2"), { config, pkiDir });
    const plain2 = await transportRun(false, join(work, "3"), { config, pkiDir });
    const plain = (plain1.matchesPerSec + plain2.matchesPerSec) / 2;
    const plainFloor = (plain1.plumbingFloorPerSec + plain2.plumbingFloorPerSec) / 2;
    const r2 = (x: number): number => Math.round(x * 100) / 100;
    return {
      tlsMatchesPerSec: Math.round(secured.matchesPerSec),
      tlsPlumbingFloorPerSec: Math.round(secured.plumbingFloorPerSec),
      tlsMatchToFloorRatio: r2(secured.matchesPerSec / secured.plumbingFloorPerSec),
      tlsMatchmakerCpuUsPerMatch: secured.matchmakerCpuUsPerMatch,
      plainPrivateMatchesPerSec: Math.round(plain),
      plainPrivatePlumbingFloorPerSec: Math.round(plainFloor),
      plainPrivateMatchmakerCpuUsPerMatch: Math.round((plain1.matchmakerCpuUsPerMatch + plain2.matchmakerCpuUsPerMatch) / 2),
      tlsOverPlainRatio: r2(secured.matchesPerSec / plain),
      tlsFloorOverPlainRatio: r2(secured.plumbingFloorPerSec / plainFloor),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export const matchmakerSuite: BenchSuite = {
  key: "matchmaker",
  async run() {
    const namespace = `benchmm${randomBytes(3).toString("hex")}`;
    const { config, names } = loadConfig({ overrides: { namespace } });
    const dir = mkdtempSync(join(tmpdir(), "wms-bench-mm-"));
    initPki(dir);
    const configPath = join(dir, "wms.yaml");
    // The per-advert time budget is wall-clock: on a loaded machine the first, cold match of an ad can
    // pass the default 100 ms and the ad is then refused for good (E1506), ending the run instead of
    // measuring it. The step budget, which does not depend on the machine, stays.
    // No lease checks: the simulated pilots never confirm their claims (see configFile above).
    writeFileSync(configPath, JSON.stringify({ ...config, namespace, pki: { dir }, logLevel: "warn", matchmaker: { ...config.matchmaker, matchBudgetMs: 5000 }, jobs: { ...config.jobs, leaseCheckSec: 3600 } }));
    const redis = singleServer(openRedis(config), "the matchmaker bench");
    // BullMQ's own connection, for the plain-Worker baseline only.
    const bull = singleServer(openRedis(config, { forBullMq: true }), "the matchmaker bench");
    const store = new JobStore(redis, names);
    const dq = new DispatchQueues({ redis, names, lockMs: 600_000, stalledIntervalMs: 600_000 });
    const tokens = new PilotTokenStore(redis, names);
    let child: ChildProcess | undefined;
    let swarm: PilotSwarm | undefined;
    let floor: ChildProcess | undefined;
    try {
      const sealer = new ServiceSealer(pkiSealKeys(dir).jobSpec, JOB_SPEC_SEAL_PURPOSE);
      const seal = (x: JobSpec): JobSpec => sealJobSpec(sealer, x);
      const first = await queueJobs(store, dq, "a", FIRST, seal);
      // WMS_BENCH_MATCHMAKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" profiles the matchmaker.
      const nodeArgs = process.env.WMS_BENCH_MATCHMAKER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
      // --trace-gc: V8 prints a line per collection on stdout, which gc-trace.ts turns into bytes allocated per match.
      child = spawn(process.execPath, ["--trace-gc", ...nodeArgs, WMS_BIN, "--config", configPath, "matchmaker"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_LOG_LEVEL: "info" } });
      const pid = child.pid ?? 0;
      const gc = new GcTrace(child.stdout as Readable);
      swarm = PilotSwarm.start();
      await swarm.call({ op: "init", namespace, pilots: await makePilots(tokens, PEAK_CONCURRENCY) });
      // Ready when it answers; then a warm-up so RSS reflects a working matchmaker.
      await untilAnswering(swarm);
      await swarm.call({ op: "rounds", rounds: Math.ceil(1000 / PEAK_CONCURRENCY), checked: true });
      const rssMb10k = await rssMb(pid);
      await queueJobs(store, dq, "b", TOTAL - FIRST, seal);
      await swarm.call({ op: "rounds", rounds: Math.ceil(1000 / PEAK_CONCURRENCY), checked: false });
      const rssMb100k = await rssMb(pid);

      // Peak: closed loop, every pilot asks again as soon as it is answered.
      const natsPid = pidOf("nats-server");
      const cpu0 = { mm: await cpuSec(pid), redis: await redisCpuSec(redis), pilots: await cpuSec(swarm.pid), nats: natsPid ? await cpuSec(natsPid) : 0, machine: machineJiffies() };
      gc.start();
      const peak = await swarm.call({ op: "closed", ms: PEAK_MS });
      const gcPeak = gc.stop();
      const matchesPerSec = peak.matches / (peak.elapsedMs / 1000);
      // Where the CPU of one match goes (the machine is shared by all of them).
      const perMatchUs = (sec: number): number => Math.round((sec * 1e6) / Math.max(1, peak.matches));
      const cpuPerMatch = {
        matchmakerCpuUsPerMatch: perMatchUs((await cpuSec(pid)) - cpu0.mm),
        redisCpuUsPerMatch: perMatchUs((await redisCpuSec(redis)) - cpu0.redis),
        pilotClientCpuUsPerMatch: perMatchUs((await cpuSec(swarm.pid)) - cpu0.pilots),
        ...(natsPid && { natsCpuUsPerMatch: perMatchUs((await cpuSec(natsPid)) - cpu0.nats) }),
        peakMachineBusyPct: ((m) => Math.round(((m.busy - cpu0.machine.busy) * 100) / Math.max(1, m.total - cpu0.machine.total)))(machineJiffies()),
      };

      // Latency at half the peak: open loop, adverts sent on a fixed schedule whatever the replies do.
      const rate = matchesPerSec / 2;
      gc.start();
      const open = await swarm.call({ op: "open", rate, ms: LATENCY_MS });
      const gcOpen = gc.stop();
      const latencies = (open.latenciesMs ?? []).sort((a, b) => a - b);
      // The matches made between the first and last collection of the peak, assuming an even rate.
      const matchesInGcSpan = peak.matches * Math.min(1, gcPeak.spanMs / peak.elapsedMs);
      const gcFigures = {
        // One decimal: the target (20) is within a rounding of what is measured, and pairs differ by tenths.
        allocKbPerMatch: gcPeak.collections >= 2 && matchesInGcSpan > 0 ? Math.round(((gcPeak.allocatedMb * 1024) / matchesInGcSpan) * 10) / 10 : -1,
        // Garbage-collection pauses while the latency was measured: what the p99 can owe to the heap.
        latencyGcPauseMaxMs: Math.round(Math.max(0, ...gcOpen.pausesMs) * 10) / 10,
        latencyGcPauseMsPerSec: Math.round((gcOpen.pausesMs.reduce((a, b) => a + b, 0) / (LATENCY_MS / 1000)) * 10) / 10,
      };

      // The floor: the same pilots against a responder that only claims through the jobs port and answers.
      child.kill("SIGTERM");
      await exited(child);
      await queueFloorJobs(store, dq, FLOOR_JOBS);
      floor = await startFloor(namespace);
      const floorCpu0 = { responder: await cpuSec(floor.pid ?? 0), redis: await redisCpuSec(redis) };
      const floorRun = await swarm.call({ op: "closed", ms: FLOOR_MS });
      const plumbingFloorPerSec = floorRun.matches / (floorRun.elapsedMs / 1000);
      const floorPerMatchUs = (sec: number): number => Math.round((sec * 1e6) / Math.max(1, floorRun.matches));
      const floorCpu = { floorResponderCpuUsPerMatch: floorPerMatchUs((await cpuSec(floor.pid ?? 0)) - floorCpu0.responder), floorRedisCpuUsPerMatch: floorPerMatchUs((await redisCpuSec(redis)) - floorCpu0.redis) };
      // The floor's latency at the matchmaker's latency rate, same schedule: what the machine (NATS,
      // Redis, the pilots' process and the scheduler's queue) adds to any responder's tail, with none
      // of the matchmaker's code. A p99 close to this one is the machine's, not the matchmaker's.
      const floorOpen = await swarm.call({ op: "open", rate, ms: LATENCY_MS });
      const floorLatencies = (floorOpen.latenciesMs ?? []).sort((a, b) => a - b);

      const baselineRedis0 = await redisCpuSec(redis);
      const baselineJobsPerSec = await baseline(bull, names, first.slice(0, BASELINE_JOBS));
      // Includes queueing the baseline's jobs (addBulk), so an upper bound on its Redis CPU per job.
      const baselineRedisCpuUsPerJob = Math.round((((await redisCpuSec(redis)) - baselineRedis0) * 1e6) / BASELINE_JOBS);
      return {
        matchesPerSec: Math.round(matchesPerSec),
        baselineJobsPerSec: Math.round(baselineJobsPerSec),
        matchToBaselineRatio: Math.round((matchesPerSec / baselineJobsPerSec) * 100) / 100,
        // NATS request/reply plus BullMQ claim and completion, with none of the matchmaker's work.
        plumbingFloorPerSec: Math.round(plumbingFloorPerSec),
        floorToBaselineRatio: Math.round((plumbingFloorPerSec / baselineJobsPerSec) * 100) / 100,
        matchToFloorRatio: Math.round((matchesPerSec / plumbingFloorPerSec) * 100) / 100,
        p50Ms: Math.round(percentile(latencies, 0.5) * 100) / 100,
        p99Ms: Math.round(percentile(latencies, 0.99) * 100) / 100,
        latencyRatePerSec: Math.round(rate),
        floorP50Ms: Math.round(percentile(floorLatencies, 0.5) * 100) / 100,
        floorP99Ms: Math.round(percentile(floorLatencies, 0.99) * 100) / 100,
        // How late the simulated pilots sent their worst advert: when this is large, p99 measures them, not the matchmaker.
        pilotsMaxSendLagMs: Math.round((open.maxSendLagMs ?? 0) * 10) / 10,
        ...gcFigures,
        rssMb10k,
        rssMb100k,
        ...cpuPerMatch,
        ...floorCpu,
        baselineRedisCpuUsPerJob,
        // WMS_BENCH_TLS=0 leaves the TLS comparison out (it adds about a minute).
        ...(process.env.WMS_BENCH_TLS === "0" ? {} : await transportCost(dir, config)),
      };
    } finally {
      await swarm?.stop();
      child?.kill("SIGTERM");
      floor?.kill("SIGTERM");
      if (floor) await exited(floor);
      await dq.close();
      await deleteNamespace(redis, namespace);
      redis.disconnect();
      bull.disconnect();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
