// The stage a real `wms pilot` process runs on, for tests that spawn the pilot as the factory does:
// a temp folder with a fresh PKI, a pilot certificate in a folder only its owner reads, one site,
// a wms.yaml the pilot process reads too (fresh namespace, loopback URLs from the environment),
// and the real credential cache (holding a user's delegated proxy), matchmaker (in the test process,
// or real `wms matchmaker` processes a test can kill), job-state and accounting agents. A fault test
// ends with `tally`: what it must find once the system settled (nothing lost, run twice or drifted);
// `faultRun` sets up a fault test's servers and stage, starts its task and pilots and checks that tally.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { NatsConnection } from "nats";
import type { Registry } from "prom-client";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, expect } from "vitest";
import { stringify as toYaml } from "yaml";
import { startAgents, type AgentsHandle } from "../../agents/job-state/index.ts";
import { CredentialClient, startCredentialCache, type CredentialCache } from "../../agents/credentials/index.ts";
import { deleteTopology } from "../../agents/reports/index.ts";
import { UsageStore } from "../../agents/accounting/index.ts";
import { DispatchQueues, JobStore, Reconciler, type JobState } from "../../jobs/index.ts";
import { startMatchmaker, type MatchmakerHandle } from "../../matchmaker/matchmaker-service.ts";
import { loadConfig, type LoadedConfig } from "../../platform/config.ts";
import { asRole, roleEnv } from "./test-roles.ts";
import type { TransportRole } from "../../security/index.ts";
import { openNats, openRabbit, openRedis } from "../../platform/connections.ts";
import { createLogger } from "../../platform/logger.ts";
import { SCHEMA_VERSION, type JobSpec, type Site, type SiteConfig } from "../../schemas/index.ts";
import { createEnvelopeSigner, initPki, issueCertificate, JOB_SPEC_SEAL_PURPOSE, loadTrust, PilotTokenStore, readServiceCredentials, sealJobSpec, ServiceSealer, pkiSealKeys } from "../../security/index.ts";
import { uniqueNamespace } from "./namespace.ts";
import { deleteNamespaceKeys } from "./redis-cleanup.ts";
import { startRestartableServer, type RestartableKind, type RestartableServer } from "./restartable-server.ts";
import { REPO_ROOT, runCli, WMS_BIN } from "./run-cli.ts";

/**
 * wms.yaml's timings for a stage whose tests wait on leases: heartbeats and lease checks every 0.5 s,
 * an empty advert retried after 0.2 s, leases of `leaseSec`; `config` laid over them.
 */
export function quickTimings(leaseSec: number, config: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...config,
    jobs: { heartbeatSec: 0.5, leaseSec, leaseCheckSec: 0.5, ...(config.jobs as object | undefined) },
    matchmaker: { nomatchBackoffSec: 0.2, ...(config.matchmaker as object | undefined) },
  };
}

const CLOCK_OFFSET = pathToFileURL(fileURLToPath(new URL("./clock-offset.mjs", import.meta.url))).href;

/**
 * `spawnPilot`'s `env` for a pilot on a wall clock of its own (clock-offset.mjs): `offsetMs` off the
 * machine's from its start, and `jumpMs` more at each SIGUSR2 it gets (an NTP step, a VM restored).
 */
export function pilotClock(o: { readonly offsetMs?: number; readonly jumpMs?: number }): Record<string, string> {
  return {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${CLOCK_OFFSET}`.trim(),
    ...(o.offsetMs !== undefined && { WMS_TEST_CLOCK_OFFSET_MS: String(o.offsetMs) }),
    ...(o.jumpMs !== undefined && { WMS_TEST_CLOCK_JUMP_MS: String(o.jumpMs) }),
  };
}

/** What `wms job show --json` prints, the part the tests read. */
export interface ShownJob {
  readonly state: string;
  readonly attempt: number;
  readonly attempts: ReadonlyArray<{ readonly attempt: number; readonly pilotId: string; readonly code: number | null; readonly message: string }>;
  readonly timings: { readonly startedAt: number | null; readonly endedAt: number | null; readonly wallSec: number | null };
}

export interface PilotStageOptions {
  /** Names the temp folder, namespace, connections and factory. */
  readonly label: string;
  readonly site: string;
  /** More sites beside `site`, each an entry of the same sites.yaml (same storage); jobs and pilots name theirs. */
  readonly extraSites?: readonly string[];
  /** The stage's `site` entry differs from the default here (identity switch, mapping...). */
  readonly siteOverrides?: Partial<Site>;
  /** Empty adverts in a row after which a spawned pilot exits (`--max-empty`; default 20). */
  readonly pilotMaxEmpty?: number;
  /** The user whose proxy the cache holds (any pilot may retrieve it) and who owns the jobs. */
  readonly userDn: string;
  /** More of wms.yaml (job timings, matchmaker back-off...). */
  readonly config?: Record<string, unknown>;
  /**
   * Private servers (a test that stops or restarts one, or clusters) the stage, its pilots and
   * matchmakers use instead of the shared ones: `redisCluster` is the seed nodes of a Redis Cluster
   * (`redis.cluster.nodes`); `matchmakerNats` gives matchmaker process i the NATS URL [i % length];
   * `pilotRabbitmq` is the spawned pilots' `rabbitmq.url` when it differs from everyone else's (a
   * RabbitMQ cluster's list in another order, so reports are published on one node and consumed on another).
   */
  readonly services?: { readonly nats?: string; readonly rabbitmq?: string; readonly pilotRabbitmq?: string; readonly redis?: string; readonly redisCluster?: readonly string[]; readonly matchmakerNats?: readonly string[] };
  /** Real `wms matchmaker` processes instead of one in the test process, so a test can kill them all. */
  readonly matchmakerProcesses?: number;
  /** The node's report spool (`<workdir>/.report-spool`) on a tmpfs this small (bytes), so it fills up; needs root. */
  readonly spoolTmpfsBytes?: number;
  /** Also run the job-log agent, which stores each attempt's LogReport for `wms job log`. */
  readonly jobLogs?: boolean;
}

/** What a fault test finds once the system settled; `JOBS` jobs of one task, each meant to run once. */
export interface StageTally {
  /** Job ids whose record is not `finished`, with their state. */
  readonly notFinished: readonly string[];
  /** Distinct jobs whose payload ran (the execution log). */
  readonly ran: number;
  /** Job ids whose payload ran more than once. */
  readonly ranTwice: readonly string[];
  /** Jobs whose record is past attempt 1: `<jobId> <attempt>:<pilot>:<state>:<ended>:<code> ...` of the earlier attempts. */
  readonly retried: readonly string[];
  /** Non-zero state counters of the task and of the stage's sites (summed). */
  readonly taskCounts: Partial<Record<JobState, number>>;
  readonly siteCounts: Partial<Record<JobState, number>>;
  readonly taskStatus: string | undefined;
  /** The sites' waiting counters, summed. */
  readonly waiting: number;
  /** Accounting records applied for the user (one per payload run: fewer is a lost report, more a duplicate). */
  readonly accounted: number;
  /** What a reconciliation now would repair (counters and queue entries against the records). */
  readonly repairs: readonly unknown[];
}

/**
 * A run in which every job finished exactly once: none lost, run twice or left queued, one
 * accounting record each, counters equal to the records. Only the retries `allowRetried` matches
 * are allowed (each fault names the attempts it may cost), and the reconciliation's repairs only
 * with `allowRepairs`.
 */
export function expectAllFinished(tally: StageTally, jobs: number, o: { allowRetried?: RegExp; allowRepairs?: boolean } = {}): void {
  // The run's figures, in every fault run's output whether it passes or not.
  console.info(`tally: ${jobs} jobs, ${tally.ran} ran, ${tally.ranTwice.length} ran twice, ${tally.retried.length} retried${tally.retried.length > 0 ? ` (${tally.retried.slice(0, 5).join("; ")})` : ""}, ${tally.accounted} accounted, ${tally.notFinished.length} not finished`);
  expect(tally.retried.filter((r) => !o.allowRetried?.test(r))).toEqual([]);
  expect(tally).toEqual({
    notFinished: [],
    ran: jobs,
    ranTwice: [],
    retried: tally.retried,
    taskCounts: { finished: jobs },
    siteCounts: { finished: jobs },
    taskStatus: "done",
    waiting: 0,
    accounted: jobs,
    repairs: o.allowRepairs === true ? tally.repairs : [],
  });
}

export interface ShellJobsOptions {
  readonly taskId: string;
  /** Names the task (`<name>.task`) and its output dataset (`user.<name>.out`). */
  readonly name: string;
  readonly count: number;
  /** Run by `/bin/sh -c`; it may append to `$LOG`, the stage's execution log. */
  readonly script: string;
  /** Job i goes to sites[i % length] (default: the stage's `site`). */
  readonly sites?: readonly string[];
}

/** One such job: `<taskId>.<index>`, run by `/bin/sh -c script`, with `$LOG` and `environment`. */
export interface ShellJobOptions {
  readonly taskId: string;
  readonly name: string;
  readonly script: string;
  readonly index?: number;
  /** Default: the stage's `site`. */
  readonly site?: string;
  readonly environment?: Readonly<Record<string, string>>;
  readonly maxAttempts?: number;
  /** The memory the job asks for (default 100 MB); the pilot kills a payload tree past it. */
  readonly memoryMb?: number;
}

export interface PilotStage {
  readonly root: string;
  /** The wms.yaml a pilot process reads (`WMS_CONFIG`). */
  readonly configFile: string;
  readonly loaded: LoadedConfig;
  readonly storage: string;
  /** The node's work folder (`--work-dir`). */
  readonly workdir: string;
  readonly pilotKeyPem: string;
  readonly redis: RedisClient;
  readonly nc: NatsConnection;
  /** The in-process matchmaker's metrics (none with `matchmakerProcesses`). */
  readonly matchmakerRegistry: Registry | undefined;
  /** The dispatch queues the agents and the test use (the in-process matchmaker's, or the stage's own beside matchmaker processes). */
  readonly dispatch: DispatchQueues;
  readonly store: JobStore;
  /** A pilot token as the factory mints it (for the stage's `site` unless told). */
  token(uses?: number, site?: string): Promise<string>;
  /** Records the job's task in the JobStore and puts it on its site queue, sealed as the intake seals it. */
  enqueue(job: JobSpec): Promise<void>;
  /** Like `enqueue`, for many jobs of one task (each sealed). */
  enqueueMany(jobs: readonly JobSpec[]): Promise<void>;
  /** A file the jobs of `shellJobs` see as `$LOG`; one line per execution, job id first. */
  readonly executionLog: string;
  /** `count` jobs of one task on the stage's site, owned by its user, each running `script`. */
  shellJobs(o: ShellJobsOptions): JobSpec[];
  /** One job of the stage's user at the stage's site (the spec `shellJobs` builds each of). */
  shellJob(o: ShellJobOptions): JobSpec;
  /** How many times each job id appears in the execution log. */
  executions(): Map<string, number>;
  /**
   * Starts a real `wms pilot` process as the factory does (its own token, in its own process group,
   * reading the stage's wms.yaml); `stop()` kills the groups of those still running. `env` is laid
   * over its environment last (a pilot reaching NATS through a proxy the test cuts, a skewed clock).
   */
  spawnPilot(pilotId: string, site?: string, env?: Readonly<Record<string, string>>): Promise<ChildProcess>;
  /** What a spawned pilot wrote (its log lines and exit summary) so far. */
  pilotOutput(pilotId: string): string;
  /** `wms job show <job> --json` as the operator runs it on the stage's wms.yaml (what the user sees); its stderr must be empty. */
  jobShow(jobId: string): Promise<ShownJob>;
  /** With `matchmakerProcesses`: kills every matchmaker process (SIGKILL, a crash) and waits for them to end. */
  killMatchmakers(): Promise<void>;
  /** With `matchmakerProcesses`: starts that many matchmaker processes again. */
  startMatchmakers(): void;
  /** Resolves once some matchmaker answers an advert (a malformed one: refused, but answered). */
  matchmakerAnswers(timeoutMs: number): Promise<void>;
  /** Waits until `count` jobs of the task are final, then counts what a fault test asserts. */
  tally(taskId: string, count: number, timeoutMs: number): Promise<StageTally>;
  /** Stops the job-state agent (as if its process died) and starts a new one. */
  stopAgents(): Promise<void>;
  startAgents(): Promise<void>;
  stop(): Promise<void>;
}

function sumCounts(all: ReadonlyArray<Record<JobState, number>>): Record<JobState, number> {
  const out = { ...all[0] };
  for (const c of all.slice(1)) for (const k of Object.keys(c) as JobState[]) out[k] = (out[k] ?? 0) + c[k];
  return out;
}

/** The agents a stage runs: job state, and accounting so a test can count lost or duplicate records. */
const AGENTS = ["job-state", "accounting"] as const;

export async function startPilotStage(o: PilotStageOptions): Promise<PilotStage> {
  const root = mkdtempSync(join(tmpdir(), `wms-${o.label}-`));
  const pkiDir = join(root, "pki");
  initPki(pkiDir);
  const storage = join(root, "storage");
  const workdir = join(root, "node");
  const logs = join(root, "logs");
  for (const d of [storage, workdir, logs]) mkdirSync(d, { recursive: true });
  // The pilots of this node share one spool folder (agents/pilot/pilot-process.ts).
  const spoolDir = join(workdir, ".report-spool");
  if (o.spoolTmpfsBytes !== undefined) {
    mkdirSync(spoolDir);
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${o.spoolTmpfsBytes},mode=0700`, "tmpfs", spoolDir], { encoding: "utf8" });
    if (m.status !== 0) {
      rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      throw new Error(`mounting a tmpfs for the report spool failed (needs root): ${m.stderr.trim()}`);
    }
  }
  const pilotCert = issueCertificate({ caDir: pkiDir, kind: "pilot", dn: `/DC=org/DC=pilot-wms/OU=Pilots/CN=${o.label} pilot`, roles: ["pilot"] });
  // The deployment keeps the pilot's key where only its owner reads it; the pilot reads it at start.
  const keyDir = join(root, "pilot-credential");
  mkdirSync(keyDir, { mode: 0o700 });
  writeFileSync(join(keyDir, "pilot.cert.pem"), pilotCert.certPem);
  writeFileSync(join(keyDir, "pilot.key.pem"), pilotCert.keyPem, { mode: 0o600 });
  const siteNames = [o.site, ...(o.extraSites ?? [])];
  const siteEntries: Site[] = siteNames.map((name) => ({ name, storagePath: storage, online: true, identitySwitch: "off", capacity: 10, softwareTags: [], authz: [], mapping: [], ...(name === o.site ? o.siteOverrides : {}) }));
  const sites: SiteConfig = { schemaVersion: 1, sites: siteEntries };
  writeFileSync(join(root, "sites.yaml"), toYaml(sites));
  const configFile = join(root, "wms.yaml");
  writeFileSync(
    configFile,
    toYaml({
      namespace: uniqueNamespace(o.label),
      pki: { dir: pkiDir },
      pilot: { cert: join(keyDir, "pilot.cert.pem"), key: join(keyDir, "pilot.key.pem") },
      // 1024-bit proxy keys: key strength is not what these tests exercise, and every job's retrieval makes one.
      credentials: { encryptionKey: randomBytes(32).toString("base64"), proxyKeyBits: 1024 },
      ...o.config,
      ...(o.services?.redisCluster ? { redis: { cluster: { nodes: o.services.redisCluster } } } : {}),
      sitesFile: join(root, "sites.yaml"),
      logLevel: "warn",
    }),
    { mode: 0o600 },
  );
  // Loopback URLs from the environment as every test uses them, or the test's private servers; the
  // rest from the file the pilots and matchmakers read too.
  // A Redis Cluster comes from the file: WMS_REDIS_URL would replace it with one server.
  const urls = {
    WMS_NATS_URL: o.services?.nats ?? process.env.WMS_NATS_URL,
    WMS_REDIS_URL: o.services?.redisCluster ? undefined : (o.services?.redis ?? process.env.WMS_REDIS_URL),
    WMS_RABBITMQ_URL: o.services?.rabbitmq ?? process.env.WMS_RABBITMQ_URL,
  };
  const loaded = loadConfig({ path: configFile, env: urls });
  // Each part as its role on the run's authenticated servers (test-roles.ts); a test's own private
  // servers (o.services: restartable-server.ts, private-clusters.ts) take the same users then.
  const as = (role: TransportRole): LoadedConfig => asRole(loaded, role);
  const roleOf = (role: TransportRole): Record<string, string> => roleEnv(role);
  const childEnv = (role: TransportRole, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ ...process.env, WMS_CONFIG: configFile, WMS_NAMESPACE: undefined, WMS_IDENTITY_FILE: undefined, ...urls, ...roleOf(role), ...extra });
  const { config, names } = loaded;
  const logger = createLogger(o.label, "silent");
  const nc = await openNats(as("matchmaker").config, `test-${o.label}`);
  const cacheNc = await openNats(as("credentials").config, `test-${o.label}-credentials`);
  const userNc = await openNats(as("operator").config, `test-${o.label}-user`);
  const redis = openRedis(as("matchmaker").config);
  let cache: CredentialCache | undefined;
  let mm: MatchmakerHandle | undefined;
  let ownDispatch: DispatchQueues | undefined;
  let agents: AgentsHandle | undefined;
  const pilots: ChildProcess[] = [];
  let matchmakers: ChildProcess[] = [];
  const alive = (p: ChildProcess): boolean => p.exitCode === null && p.signalCode === null && p.pid !== undefined;
  const killGroup = (p: ChildProcess): void => {
    try {
      if (alive(p)) process.kill(-(p.pid as number), "SIGKILL");
    } catch {
      // already gone
    }
  };
  /** A `wms` process in its own group (as the factory starts pilots), output to `logs/<name>.log`. */
  const spawnWms = (name: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess => {
    const out = openSync(join(logs, `${name}.log`), "a");
    try {
      return spawn(process.execPath, [WMS_BIN, ...args], { cwd: REPO_ROOT, env, stdio: ["ignore", out, out], detached: true });
    } finally {
      closeSync(out);
    }
  };
  const spawnMatchmakers = (): void => {
    const natsOf = (i: number): Record<string, string> => {
      const list = o.services?.matchmakerNats;
      return list?.length ? { WMS_NATS_URL: list[i % list.length] } : {};
    };
    matchmakers = Array.from({ length: o.matchmakerProcesses ?? 0 }, (_, i) => spawnWms(`matchmaker-${i}`, ["matchmaker"], childEnv("matchmaker", natsOf(i))));
  };
  const stop = async (): Promise<void> => {
    for (const p of [...pilots, ...matchmakers]) killGroup(p);
    await agents?.stop();
    await mm?.stop();
    await ownDispatch?.close();
    await cache?.stop();
    // Likewise a test's own Redis (restartable server, cluster, maybe with a master killed) goes with its folder.
    if (o.services?.redis === undefined && o.services?.redisCluster === undefined) await deleteNamespaceKeys(redis, names.namespace);
    // The queues and exchanges on the run's broker; a test's own broker (restartable server, cluster)
    // goes with its data folder. Deleting there is not only pointless: a quorum queue with a member
    // node down (the cluster test kills one) blocks its deletion for minutes while RabbitMQ waits for it.
    if (o.services?.rabbitmq === undefined) {
      try {
        const conn = await openRabbit(as("agents").config);
        const ch = await conn.createChannel();
        await deleteTopology(ch, names).catch(() => undefined);
        await conn.close();
      } catch {
        // broker down
      }
    }
    await nc.close();
    await cacheNc.close();
    await userNc.close();
    redis.disconnect();
    if (o.spoolTmpfsBytes !== undefined) spawnSync("umount", ["-l", spoolDir]);
    rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  let dispatch: DispatchQueues;
  try {
    const trust = loadTrust(pkiDir);
    cache = startCredentialCache({ nc: cacheNc, redis, names, config: as("credentials").config, trust, logger });
    // Its subscriptions are in place before anything asks it (under load a request could find no responder).
    await cache.ready;
    if (o.matchmakerProcesses === undefined) {
      mm = await startMatchmaker({ nc, redis, names, config: as("matchmaker").config, signer: createEnvelopeSigner(readServiceCredentials(pkiDir, "matchmaker")), logger, sites: siteEntries });
      dispatch = mm.dispatch;
    } else {
      // The queues as the agents and the factory open them: no lease checks here, the matchmakers run those.
      ownDispatch = new DispatchQueues({ redis, names, lockMs: config.jobs.leaseSec * 1000, stalledIntervalMs: config.jobs.leaseCheckSec * 1000, holdingTimeoutMs: config.jobs.holdingTimeoutSec * 1000 });
      dispatch = ownDispatch;
      spawnMatchmakers();
    }
    agents = await startAgents({ config: as("agents").config, names, redis, dispatch, logger, only: o.jobLogs === true ? [...AGENTS, "logs"] : AGENTS });
    const user = issueCertificate({ caDir: pkiDir, kind: "user", dn: o.userDn, roles: [] });
    await new CredentialClient(userNc, names, { trust }).delegate({ certChain: [user.certPem], keyPem: user.keyPem }, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
  } catch (e) {
    await stop();
    throw e;
  }
  const store = new JobStore(redis, names);
  const tokens = new PilotTokenStore(redis, names);
  const sealer = new ServiceSealer(pkiSealKeys(pkiDir).jobSpec, JOB_SPEC_SEAL_PURPOSE);
  const token = (uses = 3, site = o.site): Promise<string> => tokens.mint({ site, factoryId: `${o.label}-factory`, uses, ttlSec: 600 });
  const executionLog = join(root, "executions.log");
  const executions = (): Map<string, number> => {
    const n = new Map<string, number>();
    if (!existsSync(executionLog)) return n;
    for (const line of readFileSync(executionLog, "utf8").split("\n")) {
      const id = line.split(" ")[0];
      if (id) n.set(id, (n.get(id) ?? 0) + 1);
    }
    return n;
  };
  const shellJob = (j: ShellJobOptions): JobSpec => ({
    schemaVersion: SCHEMA_VERSION,
    jobId: `${j.taskId}.${j.index ?? 0}`,
    taskId: j.taskId,
    taskName: `${j.name}.task`,
    kind: "analysis",
    vo: "pilot-wms",
    group: "",
    userDn: o.userDn,
    priority: 0,
    site: j.site ?? o.site,
    executable: "/bin/sh",
    arguments: ["-c", j.script],
    environment: { LOG: executionLog, ...j.environment },
    requirements: "true",
    rank: "0",
    cores: 1,
    memoryMb: j.memoryMb ?? 100,
    walltimeSec: 120,
    inputFiles: [],
    outputDataset: `user.${j.name}.out`,
    attempt: 1,
    maxAttempts: j.maxAttempts ?? 3,
  });
  return {
    root,
    configFile,
    loaded,
    storage,
    workdir,
    pilotKeyPem: pilotCert.keyPem,
    redis,
    nc,
    get matchmakerRegistry() {
      return mm?.registry;
    },
    dispatch,
    store,
    token,
    executionLog,
    shellJobs: (j) => Array.from({ length: j.count }, (_, i) => shellJob({ taskId: j.taskId, name: j.name, script: j.script, index: i, ...(j.sites?.length ? { site: j.sites[i % j.sites.length] } : {}) })),
    shellJob,
    executions,
    async spawnPilot(pilotId, site = o.site, env = {}) {
      const child = spawnWms(pilotId, ["pilot", "--site", site, "--work-dir", workdir, "--pilot-id", pilotId, "--max-empty", String(o.pilotMaxEmpty ?? 20), "--max-backoff", "0.2", "--json"], childEnv("pilot", { WMS_PILOT_TOKEN: await token(1000, site), ...(o.services?.pilotRabbitmq ? { WMS_RABBITMQ_URL: o.services.pilotRabbitmq } : {}), ...env }));
      pilots.push(child);
      return child;
    },
    pilotOutput(pilotId) {
      const f = join(logs, `${pilotId}.log`);
      return existsSync(f) ? readFileSync(f, "utf8") : "";
    },
    async jobShow(jobId) {
      const r = await runCli(["job", "show", jobId, "--json"], { env: { ...roleEnv("operator"), WMS_CONFIG: configFile } });
      expect(r.stderr).toBe("");
      return JSON.parse(r.stdout) as ShownJob;
    },
    async killMatchmakers() {
      const ended = matchmakers.filter(alive).map((p) => new Promise<void>((r) => p.once("exit", () => r())));
      for (const p of matchmakers) killGroup(p);
      await Promise.all(ended);
    },
    startMatchmakers() {
      if (matchmakers.some(alive)) throw new Error("matchmaker processes still running");
      spawnMatchmakers();
    },
    async matchmakerAnswers(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      // Adverts come from pilots: only their identity may publish one.
      const pilotNc = await openNats(as("pilot").config, `test-${o.label}-pilot`);
      try {
        for (;;) {
          try {
            await pilotNc.request(names.advertFor(o.site), new TextEncoder().encode("{}"), { timeout: 1000 });
            return;
          } catch (e) {
            if (Date.now() > deadline) throw new Error(`no matchmaker answered within ${timeoutMs} ms: ${(e as Error).message}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      } finally {
        await pilotNc.close();
      }
    },
    async tally(taskId, count, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      const final = (c: Record<JobState, number>): number => c.finished + c.failed + c.cancelled + c.closed;
      while (final(await store.taskCounts(taskId)) < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
      // Late accounting records of the last jobs may still be on their way to the agent.
      const usage = new UsageStore(redis, names);
      const ran = executions();
      const runs = [...ran.values()].reduce((a, b) => a + b, 0);
      const accountedBy = deadline + 10_000;
      while ((await usage.get("user", o.userDn)).jobs < runs && Date.now() < accountedBy) await new Promise((r) => setTimeout(r, 500));
      const records = await store.listJobs(taskId);
      const nonZero = (c: Record<JobState, number>): Partial<Record<JobState, number>> => Object.fromEntries(Object.entries(c).filter(([, n]) => n !== 0));
      return {
        notFinished: records.filter((r) => r.state !== "finished").map((r) => `${r.jobId}:${r.state}`),
        ran: ran.size,
        ranTwice: [...ran.entries()].filter(([, n]) => n > 1).map(([id]) => id),
        retried: await Promise.all(
          records.filter((r) => r.attempt !== 1).map(async (r) => `${r.jobId} ${(await store.attempts(r.jobId)).map((a) => `${a.attempt}:${a.pilotId}:${a.state}:${a.ended}:${a.errorCode}`).join(" ")}`),
        ),
        taskCounts: nonZero(await store.taskCounts(taskId)),
        siteCounts: nonZero(sumCounts(await Promise.all(siteNames.map((s) => store.siteCounts(s))))),
        taskStatus: (await store.getTask(taskId))?.status,
        waiting: (await Promise.all(siteNames.map((s) => dispatch.waitingCount(s)))).reduce((a, b) => a + b, 0),
        accounted: (await usage.get("user", o.userDn)).jobs,
        repairs: (await new Reconciler(store, dispatch, { graceMs: 0 }).run()).repairs,
      };
    },
    async stopAgents() {
      await agents?.stop();
      agents = undefined;
    },
    async startAgents() {
      agents = await startAgents({ config: as("agents").config, names, redis, dispatch, logger, only: o.jobLogs === true ? [...AGENTS, "logs"] : AGENTS });
    },
    async enqueueMany(jobs) {
      const sealed = jobs.map((j) => sealJobSpec(sealer, j));
      const job = jobs[0];
      await store.createTask(
        { taskId: job.taskId, taskName: job.taskName, kind: job.kind, vo: job.vo, group: job.group, ownerDn: job.userDn, priority: job.priority, maxAttempts: job.maxAttempts, outputDataset: job.outputDataset },
        sealed.map((spec) => ({ spec, state: "activated" as const })),
      );
      await dispatch.enqueue(sealed);
    },
    async enqueue(job) {
      const sealed = sealJobSpec(sealer, job);
      await store.createTask(
        { taskId: job.taskId, taskName: job.taskName, kind: job.kind, vo: job.vo, group: job.group, ownerDn: job.userDn, priority: job.priority, maxAttempts: job.maxAttempts, outputDataset: job.outputDataset },
        [{ spec: sealed, state: "activated" }],
      );
      await dispatch.enqueue([sealed]);
    },
    stop,
  };
}

/**
 * Stops a stage, waiting at most `ms` for it, for a clean-up hook that stops private servers next:
 * those go by their process groups whatever the stage's clean-up does. A test that failed with a
 * server down can leave a client waiting for it (a NATS flush waits for the reconnection), and the
 * hook's timeout must not be what ends the file with servers still running.
 */
export async function stopStageWithin(stage: PilotStage | undefined, label: string, ms = 30_000): Promise<void> {
  const stopped = stage?.stop().catch((e: unknown) => console.warn(`${label}: stage clean-up failed: ${(e as Error).message}`));
  let waiting: NodeJS.Timeout | undefined;
  const late = new Promise<void>((r) => (waiting = setTimeout(() => r(console.warn(`${label}: stage clean-up still waiting after ${ms} ms; stopping the servers`)), ms)));
  await Promise.race([stopped, late]);
  clearTimeout(waiting);
}

/** A fault test's run on a stage of its own: see `faultRun`. */
export interface FaultRunOptions {
  /** Names the stage, its namespace and its private servers' folders. */
  readonly label: string;
  readonly site: string;
  readonly userDn: string;
  /** Private servers started for the run (free ports, temp folders) and used instead of the shared ones. */
  readonly servers?: readonly RestartableKind[];
  /** Pilots `start()` spawns, `pilot-0` … */
  readonly pilots: number;
  /** Jobs of the run's one task. */
  readonly jobs: number;
  /** The lease (`jobs.leaseSec`) the fault is measured against; heartbeats and lease checks every 0.5 s. */
  readonly leaseSec: number;
  /** More of wms.yaml, over the run's timings. */
  readonly config?: Record<string, unknown>;
  readonly matchmakerProcesses?: number;
  readonly spoolTmpfsBytes?: number;
}

export interface FaultRun {
  readonly stage: PilotStage;
  /** A private server the run started (`servers`). */
  server(kind: RestartableKind): RestartableServer;
  readonly taskId: string;
  /**
   * Queues the task (each payload sleeps `sleepSec`, appends its line to the execution log, writes its
   * output; `before`, shell run first, may pick a job out by `$WMS_JOB_ID`) and spawns the pilots.
   */
  start(o?: { readonly sleepSec?: number; readonly before?: string }): Promise<ChildProcess[]>;
  /** Resolves once `n` distinct payloads ran (the execution log). */
  untilRan(n: number, timeoutMs?: number): Promise<void>;
  /**
   * Waits for the task to settle and asserts what every fault test asserts: no job lost or
   * unfinished, no payload run twice, no job retried (except the `allowRetried` histories: a claim
   * or credential request the fault swallowed before any payload ran), one accounting record per
   * job, counters and queues equal to the records (a reconciliation would repair nothing).
   */
  /**
   * `allowSiteCountRepairs`: a process killed between a move's two writes (the record in the task's
   * shard, then the site's counters in the site's shard) leaves the site's counters one move behind
   * by design; the reconciler repairs that. Allowed, the first reconciliation may repair site
   * counters (nothing else), and a second one must find nothing, with every count equal to the records.
   */
  expectSettled(o?: { readonly timeoutMs?: number; readonly allowRetried?: RegExp; readonly allowSiteCountRepairs?: boolean }): Promise<StageTally>;
}

/**
 * Registers the run's set-up (private servers, then the stage on them) and its clean-up (the stage,
 * then the servers, also when the test failed) as the file's beforeAll/afterAll hooks; a test file
 * calls it at its top level and may add hooks of its own after it (they run after the set-up and
 * before the clean-up).
 */
export function faultRun(o: FaultRunOptions): FaultRun {
  const servers = new Map<RestartableKind, RestartableServer>();
  let stage: PilotStage | undefined;
  const taskId = `t${randomBytes(4).toString("hex")}`;
  const ready = (): PilotStage => {
    if (!stage) throw new Error("the fault run is not set up (faultRun must be called at the test file's top level)");
    return stage;
  };
  // Set once the clean-up ran: a set-up still under way then (its hook timed out on a loaded
  // machine) stops what it starts afterwards instead of leaving it running after the file.
  let cleanedUp = false;
  beforeAll(async () => {
    for (const kind of o.servers ?? []) {
      const s = await startRestartableServer(kind, o.label);
      if (cleanedUp) return void (await s.close());
      servers.set(kind, s);
    }
    const started = await startPilotStage({
      label: o.label,
      site: o.site,
      userDn: o.userDn,
      services: { nats: servers.get("nats")?.url, rabbitmq: servers.get("rabbitmq")?.url, redis: servers.get("redis")?.url },
      matchmakerProcesses: o.matchmakerProcesses,
      spoolTmpfsBytes: o.spoolTmpfsBytes,
      config: quickTimings(o.leaseSec, o.config),
    });
    if (cleanedUp) return void (await started.stop());
    stage = started;
    if (o.matchmakerProcesses) await stage.matchmakerAnswers(30_000);
  }, 120_000);
  afterAll(async () => {
    cleanedUp = true;
    await stopStageWithin(stage, o.label);
    for (const s of servers.values()) await s.close();
  }, 90_000);
  return {
    get stage() {
      return ready();
    },
    server(kind) {
      const s = servers.get(kind);
      if (!s) throw new Error(`the fault run started no private ${kind} (servers)`);
      return s;
    },
    taskId,
    async start(s = {}) {
      const st = ready();
      const pause = `${s.before ? `${s.before}; ` : ""}${s.sleepSec ? `sleep ${s.sleepSec}; ` : ""}`;
      await st.enqueueMany(st.shellJobs({ taskId, name: o.label, count: o.jobs, script: `${pause}echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"` }));
      const pilots: ChildProcess[] = [];
      for (let i = 0; i < o.pilots; i++) pilots.push(await st.spawnPilot(`pilot-${i}`));
      return pilots;
    },
    async untilRan(n, timeoutMs = 60_000) {
      await expect.poll(() => ready().executions().size, { timeout: timeoutMs, interval: 200 }).toBeGreaterThanOrEqual(n);
    },
    async expectSettled(s = {}) {
      let tally = await ready().tally(taskId, o.jobs, s.timeoutMs ?? 150_000);
      if (s.allowSiteCountRepairs && tally.repairs.length > 0) {
        expect(tally.repairs.filter((r) => (r as { kind?: string }).kind !== "site-count")).toEqual([]);
        tally = await ready().tally(taskId, o.jobs, s.timeoutMs ?? 150_000);
      }
      expectAllFinished(tally, o.jobs, { allowRetried: s.allowRetried });
      return tally;
    },
  };
}
