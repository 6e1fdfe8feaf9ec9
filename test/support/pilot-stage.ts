// The stage a real `wms pilot` process runs on, for tests that spawn the pilot as the factory does:
// a temp folder with a fresh PKI, a pilot certificate in a folder only its owner reads, one site,
// a wms.yaml the pilot process reads too (fresh namespace, loopback URLs from the environment),
// and the real credential cache (holding a user's delegated proxy), matchmaker and job-state agent.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "nats";
import type { Redis } from "ioredis";
import { stringify as toYaml } from "yaml";
import { startAgents, type AgentsHandle } from "../../agents/job-state/index.ts";
import { CredentialClient, startCredentialCache, type CredentialCache } from "../../agents/credentials/index.ts";
import { deleteTopology } from "../../agents/reports/index.ts";
import { JobStore } from "../../jobs/index.ts";
import { startMatchmaker, type MatchmakerHandle } from "../../matchmaker/matchmaker-service.ts";
import { loadConfig, type LoadedConfig } from "../../platform/config.ts";
import { openNats, openRabbit, openRedis } from "../../platform/connections.ts";
import { createLogger } from "../../platform/logger.ts";
import { SCHEMA_VERSION, type JobSpec, type Site, type SiteConfig } from "../../schemas/index.ts";
import { createEnvelopeSigner, createProxy, initPki, issueCertificate, JOB_SPEC_SEAL_PURPOSE, loadTrust, PilotTokenStore, readServiceCredentials, sealJobSpec, ServiceSealer } from "../../security/index.ts";
import { uniqueNamespace } from "./namespace.ts";
import { deleteNamespaceKeys } from "./redis-cleanup.ts";
import { REPO_ROOT, WMS_BIN } from "./run-cli.ts";

export interface PilotStageOptions {
  /** Names the temp folder, namespace, connections and factory. */
  readonly label: string;
  readonly site: string;
  /** The user whose proxy the cache holds (any pilot may retrieve it) and who owns the jobs. */
  readonly userDn: string;
  /** More of wms.yaml (job timings, matchmaker back-off...). */
  readonly config?: Record<string, unknown>;
}

export interface ShellJobsOptions {
  readonly taskId: string;
  /** Names the task (`<name>.task`) and its output dataset (`user.<name>.out`). */
  readonly name: string;
  readonly count: number;
  /** Run by `/bin/sh -c`; it may append to `$LOG`, the stage's execution log. */
  readonly script: string;
}

/** One such job: `<taskId>.<index>`, run by `/bin/sh -c script`, with `$LOG` and `environment`. */
export interface ShellJobOptions {
  readonly taskId: string;
  readonly name: string;
  readonly script: string;
  readonly index?: number;
  readonly environment?: Readonly<Record<string, string>>;
  readonly maxAttempts?: number;
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
  readonly redis: Redis;
  readonly nc: NatsConnection;
  readonly mm: MatchmakerHandle;
  readonly store: JobStore;
  /** A pilot token as the factory mints it. */
  token(uses?: number): Promise<string>;
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
   * reading the stage's wms.yaml); `stop()` kills the groups of those still running.
   */
  spawnPilot(pilotId: string): Promise<ChildProcess>;
  /** Stops the job-state agent (as if its process died) and starts a new one. */
  stopAgents(): Promise<void>;
  startAgents(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPilotStage(o: PilotStageOptions): Promise<PilotStage> {
  const root = mkdtempSync(join(tmpdir(), `wms-${o.label}-`));
  const pkiDir = join(root, "pki");
  initPki(pkiDir);
  const storage = join(root, "storage");
  const workdir = join(root, "node");
  for (const d of [storage, workdir]) mkdirSync(d, { recursive: true });
  const pilotCert = issueCertificate({ caDir: pkiDir, kind: "pilot", dn: `/DC=org/DC=pilot-wms/OU=Pilots/CN=${o.label} pilot`, roles: ["pilot"] });
  // The deployment keeps the pilot's key where only its owner reads it; the pilot reads it at start.
  const keyDir = join(root, "pilot-credential");
  mkdirSync(keyDir, { mode: 0o700 });
  writeFileSync(join(keyDir, "pilot.cert.pem"), pilotCert.certPem);
  writeFileSync(join(keyDir, "pilot.key.pem"), pilotCert.keyPem, { mode: 0o600 });
  const site: Site = { name: o.site, storagePath: storage, online: true, identitySwitch: "off", capacity: 10, softwareTags: [], authz: [], mapping: [] };
  const sites: SiteConfig = { schemaVersion: 1, sites: [site] };
  writeFileSync(join(root, "sites.yaml"), toYaml(sites));
  const configFile = join(root, "wms.yaml");
  writeFileSync(
    configFile,
    toYaml({
      namespace: uniqueNamespace(o.label),
      pki: { dir: pkiDir },
      pilot: { cert: join(keyDir, "pilot.cert.pem"), key: join(keyDir, "pilot.key.pem") },
      credentials: { encryptionKey: randomBytes(32).toString("base64") },
      ...o.config,
      sitesFile: join(root, "sites.yaml"),
      logLevel: "warn",
    }),
    { mode: 0o600 },
  );
  // Loopback URLs from the environment as every test uses them; the rest from the file the pilots read too.
  const loaded = loadConfig({ path: configFile, env: { WMS_NATS_URL: process.env.WMS_NATS_URL, WMS_REDIS_URL: process.env.WMS_REDIS_URL, WMS_RABBITMQ_URL: process.env.WMS_RABBITMQ_URL } });
  const { config, names } = loaded;
  const logger = createLogger(o.label, "silent");
  const nc = await openNats(config, `test-${o.label}`);
  const redis = openRedis(config);
  const bull = openRedis(config, { forBullMq: true });
  let cache: CredentialCache | undefined;
  let mm: MatchmakerHandle | undefined;
  let agents: AgentsHandle | undefined;
  const pilots: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const p of pilots) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(-p.pid, "SIGKILL");
    await agents?.stop();
    await mm?.stop();
    await cache?.stop();
    await deleteNamespaceKeys(redis, names.namespace);
    const conn = await openRabbit(config);
    const ch = await conn.createChannel();
    await deleteTopology(ch, names).catch(() => undefined);
    await conn.close();
    await nc.drain();
    redis.disconnect();
    bull.disconnect();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const trust = loadTrust(pkiDir);
    cache = startCredentialCache({ nc, redis, names, config, trust, logger });
    mm = await startMatchmaker({ nc, redis, bullConnection: bull, names, config, signer: createEnvelopeSigner(readServiceCredentials(pkiDir, "matchmaker")), logger, sites: [site] });
    agents = await startAgents({ config, names, redis, bullConnection: bull, dispatch: mm.dispatch, logger, only: ["job-state"] });
    const user = issueCertificate({ caDir: pkiDir, kind: "user", dn: o.userDn, roles: [] });
    await new CredentialClient(nc, names, { trust }).delegate(createProxy({ certPem: user.certPem, keyPem: user.keyPem, lifetimeSec: 3600 }), { retrievers: ["role:pilot"] });
  } catch (e) {
    await stop();
    throw e;
  }
  const started = mm;
  const store = new JobStore(redis, names);
  const tokens = new PilotTokenStore(redis, names);
  const sealer = new ServiceSealer(readServiceCredentials(pkiDir, "intake"), JOB_SPEC_SEAL_PURPOSE);
  const token = (uses = 3): Promise<string> => tokens.mint({ site: o.site, factoryId: `${o.label}-factory`, uses, ttlSec: 600 });
  const executionLog = join(root, "executions.log");
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
    site: o.site,
    executable: "/bin/sh",
    arguments: ["-c", j.script],
    environment: { LOG: executionLog, ...j.environment },
    requirements: "true",
    rank: "0",
    cores: 1,
    memoryMb: 100,
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
    mm: started,
    store,
    token,
    executionLog,
    shellJobs: (j) => Array.from({ length: j.count }, (_, i) => shellJob({ taskId: j.taskId, name: j.name, script: j.script, index: i })),
    shellJob,
    executions() {
      const n = new Map<string, number>();
      if (!existsSync(executionLog)) return n;
      for (const line of readFileSync(executionLog, "utf8").split("\n")) {
        const id = line.split(" ")[0];
        if (id) n.set(id, (n.get(id) ?? 0) + 1);
      }
      return n;
    },
    async spawnPilot(pilotId) {
      const child = spawn(process.execPath, [WMS_BIN, "pilot", "--site", o.site, "--work-dir", workdir, "--pilot-id", pilotId, "--max-empty", "20", "--max-backoff", "0.2", "--json"], {
        cwd: REPO_ROOT,
        env: { ...process.env, WMS_CONFIG: configFile, WMS_NAMESPACE: undefined, WMS_PILOT_TOKEN: await token(1000) },
        stdio: ["ignore", "ignore", "ignore"],
        detached: true,
      });
      pilots.push(child);
      return child;
    },
    async stopAgents() {
      await agents?.stop();
      agents = undefined;
    },
    async startAgents() {
      agents = await startAgents({ config, names, redis, bullConnection: bull, dispatch: started.dispatch, logger, only: ["job-state"] });
    },
    async enqueueMany(jobs) {
      await sealer.ready(redis, names);
      const sealed = jobs.map((j) => sealJobSpec(sealer, j));
      const job = jobs[0];
      await store.createTask(
        { taskId: job.taskId, taskName: job.taskName, kind: job.kind, vo: job.vo, group: job.group, ownerDn: job.userDn, priority: job.priority, maxAttempts: job.maxAttempts, outputDataset: job.outputDataset },
        sealed.map((spec) => ({ spec, state: "activated" as const })),
      );
      await started.dispatch.enqueue(sealed);
    },
    async enqueue(job) {
      await sealer.ready(redis, names);
      const sealed = sealJobSpec(sealer, job);
      await store.createTask(
        { taskId: job.taskId, taskName: job.taskName, kind: job.kind, vo: job.vo, group: job.group, ownerDn: job.userDn, priority: job.priority, maxAttempts: job.maxAttempts, outputDataset: job.outputDataset },
        [{ spec: sealed, state: "activated" }],
      );
      await started.dispatch.enqueue([sealed]);
    },
    stop,
  };
}
