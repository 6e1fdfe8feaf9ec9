// `wms demo`: the whole system on one machine. It makes sure the services answer, builds a PKI,
// three sites with storage folders and sample datasets, starts the credential cache, intake,
// matchmakers, agents and a factory of local pilots in a namespace of its own, submits a signed
// task, shows its progress, prints a summary, and stops and deletes everything it started.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { stringify as toYaml } from "yaml";
import { register as promDefault } from "prom-client";
import { configAs, loadConfig, type LoadedConfig } from "../platform/config.ts";
import { openNats, openRabbit, openRedis } from "../platform/connections.ts";
import { createLogger } from "../platform/logger.ts";
import { stopProcessGroups } from "../platform/process-groups.ts";
import { processRef } from "../platform/process-identity.ts";
import { ensureServices, startAuthenticatedServices, type ServiceUrls } from "../platform/local-services.ts";
import { checkNats, checkRabbit, checkRedis } from "../platform/service-check.ts";
import { wireNames } from "../schemas/index.ts";
import { initTransportSecrets, type TransportRole } from "../security/index.ts";
import { deleteNamespaceKeys } from "../platform/namespace-cleanup.ts";
import { ERR, WmsError, type FactoryConfig, type SiteConfig, type TaskBatch } from "../schemas/index.ts";
import { createBatchEnvelopeSigner, initPki, issueCertificate, loadTrust, PilotTokenStore, readServiceCredentials, signTaskBatch } from "../security/index.ts";
import { JobStore, type JobState } from "../jobs/index.ts";
import { ReplicaCatalogStore } from "../matchmaker/replica-catalog.ts";
import { startIntake } from "../matchmaker/intake-service.ts";
import { startMatchmaker, type MatchmakerHandle } from "../matchmaker/matchmaker-service.ts";
import { TaskClient } from "../matchmaker/task-client.ts";
import { startFactory, pilotCommand, LocalAdapter, type PilotCommandBuilder } from "../pilot-factory/index.ts";
import { startCredentialCache, CredentialClient } from "../agents/credentials/index.ts";
import { startAgents } from "../agents/job-state/index.ts";
import { deleteTopology } from "../agents/reports/index.ts";
import { UsageStore } from "../agents/accounting/index.ts";
import { startMonitor } from "../agents/monitor/monitor-server.ts";
import { defaultProviders } from "../agents/monitor/monitor-providers.ts";
import { writeSampleData } from "./sample-data.ts";
import { summarize, type DemoSummary } from "./demo-summary.ts";

export interface DemoOptions {
  jobs: number;
  sites: number;
  /** Pilots running at once, over all sites. */
  pilots: number;
  matchmakers: number;
  timeoutSec: number;
  keep: boolean;
  monitorPort?: number;
  /**
   * Run on the machine's NATS, Redis and RabbitMQ as they are (unauthenticated; the demo never
   * reconfigures them) instead of private servers with authentication on.
   */
  sharedServices?: boolean;
  /**
   * For tests: called with the deployment's config once every service is up, before the task is
   * submitted; `identityFile` gives a role's identity when the servers authenticate.
   */
  beforeSubmit?: (ctx: { config: LoadedConfig["config"]; names: LoadedConfig["names"]; identityFile?: (role: TransportRole) => string }) => Promise<void>;
}

export interface DemoOutput {
  info(line: string): void;
  progress(counts: Record<JobState, number>, total: number): void;
  done(): void;
}

const WMS_BIN = fileURLToPath(new URL("../bin/wms.mjs", import.meta.url));
const FILES_PER_JOB = 2;
const PRODUCTION_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Production Manager";
const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Alice Analyst";
const PILOT_DN = "/DC=org/DC=pilot-wms/OU=Pilots/CN=demo pilot";

/** Word-count and checksum every staged-in file; the result is the job's output file. */
const PAYLOAD = 'set -e; out="$WMS_OUTPUT_DIR/summary.txt"; wc -w $WMS_INPUTS > "$out"; md5sum $WMS_INPUTS >> "$out"';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runDemo(o: DemoOptions, base: LoadedConfig, out: DemoOutput, signal: AbortSignal): Promise<DemoSummary> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), "wms-demo-"));
  const cleanups: Array<[string, () => Promise<unknown> | unknown]> = [];
  const cleanup = async (): Promise<void> => {
    for (const [what, fn] of cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        out.info(`cleanup of ${what} failed: ${(e as Error).message}`);
      }
    }
  };
  try {
    // 1. The services: private servers with authentication on, one identity per role from
    // `wms secrets init`, so the demo shows the system as it is meant to run. The machine's own
    // services only when asked (--shared-services): used as they are, never reconfigured, so
    // unauthenticated, and it says so.
    const namespace = `demo${randomBytes(4).toString("hex")}`;
    const baseUrls: ServiceUrls = { nats: base.config.nats.url, redis: base.config.redis.url, rabbitmq: base.config.rabbitmq.url };
    let identityFile: ((role: TransportRole) => string) | undefined;
    let urls: ServiceUrls;
    const startShared = async (why: string): Promise<ServiceUrls> => {
      const statuses = await Promise.all([checkNats(base.config.nats), checkRedis(base.config.redis), checkRabbit(base.config.rabbitmq)]);
      const refusing = statuses.filter((s) => s.state === "auth-failed").map((s) => s.service);
      if (refusing.length > 0) throw new WmsError(ERR.SERVICE_AUTH_FAILED, `${refusing.join(", ")} refuse(s) the configured credentials; fix them or ${o.sharedServices ? "run without --shared-services" : "install the servers so the demo starts private ones"}`);
      out.info(why);
      const services = await ensureServices(baseUrls, join(work, "services"), out.info);
      cleanups.push(["services", () => services.stop()]);
      if (services.started.length) out.info(`started for the demo WITHOUT authentication: ${services.started.join(", ")}`);
      return services.urls;
    };
    if (o.sharedServices) {
      urls = await startShared("using the machine's NATS, Redis and RabbitMQ as they are (--shared-services): shared services the demo does not reconfigure, so WITHOUT authentication");
    } else {
      const secrets = initTransportSecrets(join(work, "secrets"), wireNames(namespace));
      let started: Awaited<ReturnType<typeof startAuthenticatedServices>> | undefined;
      let why = "";
      try {
        started = await startAuthenticatedServices(join(work, "services"), secrets, out.info);
      } catch (e) {
        why = (e as Error).message.split("\n")[0];
      }
      if (started) {
        const services = started;
        cleanups.push(["services", () => services.stop()]);
        out.info(`started for the demo with authentication on: nats ${services.urls.nats}, redis ${services.urls.redis}, rabbitmq ${services.urls.rabbitmq} (identities in ${secrets.dir})`);
        identityFile = (role) => services.identityFile(role);
        urls = services.urls;
      } else {
        // No installed servers: the machine's services as they are, unauthenticated.
        urls = await startShared(`private servers could not start (${why}); using the machine's services WITHOUT authentication`);
      }
    }

    // 2. A PKI, the production manager, a user and the pilots' certificate.
    const pkiDir = join(work, "pki");
    initPki(pkiDir, { vo: "atlas" });
    const credsDir = join(work, "creds");
    mkdirSync(credsDir, { recursive: true, mode: 0o700 });
    const issue = (name: string, kind: "user" | "pilot", dn: string, roles: string[], groups: string[]): { cert: string; key: string } => {
      const c = issueCertificate({ caDir: pkiDir, kind, dn, roles, groups, days: 2 });
      const cert = join(credsDir, `${name}.cert.pem`);
      const key = join(credsDir, `${name}.key.pem`);
      writeFileSync(cert, c.certPem, { mode: 0o644 });
      writeFileSync(key, c.keyPem, { mode: 0o600 });
      return { cert, key };
    };
    const production = issue("production", "user", PRODUCTION_DN, ["production"], ["prod"]);
    const user = issue("alice", "user", USER_DN, ["user"], ["physics"]);
    const pilotCred = issue("pilot", "pilot", PILOT_DN, ["pilot"], []);

    // 3. Sites with storage folders, and the sample datasets placed at some of them.
    const siteNames = Array.from({ length: o.sites }, (_, i) => `SITE_${String.fromCharCode(65 + (i % 26))}${i >= 26 ? i : ""}`);
    const storage = Object.fromEntries(siteNames.map((s) => [s, join(work, "storage", s)]));
    for (const dir of Object.values(storage)) mkdirSync(dir, { recursive: true });
    const siteConfig: SiteConfig = {
      schemaVersion: 1,
      sites: siteNames.map((name, i) => ({ name, storagePath: storage[name], online: true, identitySwitch: "off", capacity: 40 + 20 * (i % 3), softwareTags: ["demo"], authz: [], mapping: [] })),
    };
    const sitesFile = join(work, "sites.yaml");
    writeFileSync(sitesFile, toYaml(siteConfig));
    const datasetCount = Math.max(o.sites * 2, 2);
    const filesPerDataset = Math.ceil((o.jobs * FILES_PER_JOB) / datasetCount);
    const datasets = writeSampleData({ storage, datasets: datasetCount, filesPerDataset, prefix: "demo" });

    // 4. The deployment's config, in a namespace of its own; pilots load the same file.
    const configFile = join(work, "wms.yaml");
    writeFileSync(
      configFile,
      toYaml({
        namespace,
        nats: { url: urls.nats },
        redis: { url: urls.redis },
        rabbitmq: { url: urls.rabbitmq },
        pki: { dir: pkiDir },
        pilot: { cert: pilotCred.cert, key: pilotCred.key, ...(identityFile ? { identityFile: identityFile("pilot") } : {}) },
        credentials: { encryptionKey: randomBytes(32).toString("base64") },
        jobs: { heartbeatSec: 2, leaseSec: 30, leaseCheckSec: 5 },
        matchmaker: { nomatchBackoffSec: 1 },
        sitesFile,
        logLevel: "warn",
      }),
      { mode: 0o600 },
    );
    const loaded = loadConfig({ path: configFile, env: {} });
    const { config, names } = loaded;
    const logger = createLogger("demo", config.logLevel);
    // Each part connects as its own role: with authentication on, as the identity `wms secrets
    // init` made for it (the demo's own steps — catalog, delegation, submission, summary — as the
    // operator); on the shared services, all with the same anonymous config.
    const as = (role: TransportRole): LoadedConfig => (identityFile ? configAs(loaded, identityFile(role)) : loaded);
    const conns: Array<{ close(): Promise<void> | void }> = [];
    cleanups.push(["connections", async () => void (await Promise.all(conns.map((c) => c.close())))]);
    const natsAs = async (role: TransportRole): Promise<Awaited<ReturnType<typeof openNats>>> => {
      const nc = await openNats(as(role).config, `wms-demo-${role}`);
      conns.push({ close: () => nc.drain().catch(() => undefined) });
      return nc;
    };
    const redisAs = (role: TransportRole): ReturnType<typeof openRedis> => {
      const r = openRedis(as(role).config);
      conns.push({ close: () => r.disconnect() });
      return r;
    };
    const nc = await natsAs("operator");
    const redis = redisAs("operator");
    // On the shared services the demo's keys and queues are deleted at the end. Its private servers
    // go away whole, data folders included, and the operator role it reads as may not delete keys.
    if (!o.keep && !identityFile) {
      cleanups.push(["rabbitmq topology", async () => {
        const conn = await openRabbit(as("agents").config);
        const ch = await conn.createChannel();
        await deleteTopology(ch, names);
        await conn.close();
      }]);
      cleanups.push(["redis keys", () => deleteNamespaceKeys(redis, namespace)]);
    }

    const catalog = new ReplicaCatalogStore(redis, names);
    for (const d of datasets) await catalog.addFiles(d.name, d.files, d.sites);
    out.info(`${siteNames.length} sites, ${datasets.length} datasets, ${datasets.reduce((n, d) => n + d.files.length, 0)} files in ${work}`);

    // 5. The services, in this process (pilots are processes of their own, started by the factory).
    const trust = loadTrust(pkiDir);
    const cache = startCredentialCache({ nc: await natsAs("credentials"), redis: redisAs("credentials"), names, config: as("credentials").config, trust, logger });
    await cache.ready;
    cleanups.push(["credential cache", () => cache.stop()]);
    const mmCreds = readServiceCredentials(pkiDir, "matchmaker");
    const matchmakers: MatchmakerHandle[] = [];
    const mmNc = await natsAs("matchmaker");
    const mmRedis = redisAs("matchmaker");
    for (let i = 0; i < o.matchmakers; i++) {
      const mm = await startMatchmaker({ nc: mmNc, redis: mmRedis, names, config: as("matchmaker").config, signer: createBatchEnvelopeSigner(mmCreds), logger, registry: promDefault });
      matchmakers.push(mm);
      cleanups.push([`matchmaker ${i + 1}`, () => mm.stop()]);
    }
    const dispatch = matchmakers[0].dispatch;
    // The intake enqueues through the matchmaker's dispatch queues (one Redis connection).
    const intake = await startIntake({ nc: await natsAs("intake"), redis: redisAs("intake"), names, config: as("intake").config, trust, dispatch, logger });
    cleanups.push(["intake", () => intake.stop()]);
    const agents = await startAgents({ config: as("agents").config, names, redis: redisAs("agents"), dispatch, logger });
    cleanups.push(["agents", () => agents.stop()]);
    if (o.monitorPort !== undefined) {
      const monitorRedis = redisAs("monitor");
      const monitor = await startMonitor({ redis: monitorRedis, names, port: o.monitorPort, providers: await defaultProviders({ redis: monitorRedis, names, config: as("monitor").config }) });
      cleanups.push(["monitor", () => monitor.close()]);
      out.info(`monitor on ${monitor.url}`);
    }

    // 6. Users delegate proxies to the credential cache, retrievable by pilots only.
    const creds = new CredentialClient(nc, names, { trust });
    for (const who of [production, user]) {
      await creds.delegate({ certChain: [readText(who.cert)], keyPem: readText(who.key) }, { retrievers: ["role:pilot"], lifetimeSec: 12 * 3600 });
    }

    // 7. The factory keeps every site supplied with pilots while work waits.
    const perSite = Math.max(1, Math.ceil(o.pilots / siteNames.length));
    const factoryConfig: FactoryConfig = {
      schemaVersion: 1,
      factoryId: "demo-factory",
      queues: siteNames.map((site) => ({
        name: `${site}-local`, site, adapter: "local", targetIdle: 0, maxPending: perSite, maxRunning: perSite, maxPerCycle: perSite,
        pilotsPerMinute: 600, cycleSec: 1, pilotLifetimeSec: o.timeoutSec + 3600, tokenUses: 1000, emptyAdvertsLimit: 3,
      })),
    };
    // Short back-off: the demo's pilots should notice new work (and the end of it) quickly.
    const quickBackoff: PilotCommandBuilder = (launch, runtime) => {
      const line = pilotCommand(launch, runtime);
      return { ...line, args: [...line.args, "--max-backoff", "1"] };
    };
    const local = new LocalAdapter({ env: process.env });
    const factoryRedis = redisAs("factory");
    const factory = await startFactory({
      adapterFor: () => local,
      config: factoryConfig, nc: await natsAs("factory"), redis: factoryRedis, names, tokens: new PilotTokenStore(factoryRedis, names),
      waitingJobs: (site) => dispatch.waitingCount(site),
      runtime: { nodePath: process.execPath, wmsBin: WMS_BIN, namespace, configPath: configFile, serviceUrls: urls, pilotWorkdir: join(work, "pilots"), identityFile: config.pilot.identityFile },
      workDir: join(work, "factory"), env: process.env, pilotCommand: quickBackoff, logger,
    });
    cleanups.push(["factory and its pilots", async () => {
      await factory.stop();
      await stopPilots([...local.started.values()].map((p) => p.pid));
    }]);

    // 8. The production manager submits the signed task.
    const batch: TaskBatch = {
      schemaVersion: 1, taskName: `demo.wordcount.${namespace}`, kind: "production", vo: "atlas", group: "prod", priority: 100,
      jobTemplate: { executable: "/bin/sh", arguments: ["-c", PAYLOAD], environment: { LC_ALL: "C" }, requirements: "TARGET.Cpus >= 1 && TARGET.Memory >= 100", rank: "TARGET.Memory", cores: 1, memoryMb: 500, walltimeSec: 600 },
      inputDatasets: datasets.map((d) => d.name), filesPerJob: FILES_PER_JOB, maxJobs: o.jobs, outputDataset: `demo.output.${namespace}`, maxAttempts: 3,
    };
    await o.beforeSubmit?.({ config, names, ...(identityFile ? { identityFile } : {}) });
    const signed = signTaskBatch(batch, { certChain: [readText(production.cert)], keyPem: readText(production.key) });
    const accepted = await new TaskClient(nc, names).submit(signed);
    out.info(`task ${accepted.taskId} accepted: ${accepted.jobs} jobs, ${accepted.queued} queued`);

    // 9. Watch it through to the end.
    const jobs = new JobStore(redis, names);
    const deadline = Date.now() + o.timeoutSec * 1000;
    for (;;) {
      if (signal.aborted) throw new WmsError(ERR.PAYLOAD_CANCELLED, "the demo was interrupted");
      const counts = await jobs.taskCounts(accepted.taskId);
      out.progress(counts, accepted.jobs);
      const task = await jobs.getTask(accepted.taskId);
      if (task && task.status !== "active") break;
      if (Date.now() > deadline) throw new WmsError(ERR.TIMEOUT, `the task did not finish within ${o.timeoutSec} s (raise --timeout)`);
      await sleep(400);
    }
    out.done();

    // 10. The summary, from the records.
    const records = await jobs.listJobs(accepted.taskId);
    const replicas = new Map<string, Set<string>>();
    for (const d of datasets) for (const f of d.files) replicas.set(f.lfn, new Set(d.sites));
    const usage = new UsageStore(redis, names, config.quotas);
    // Accounting records travel on their own queue and may trail the final state reports a little.
    const finishedCount = records.filter((r) => r.state === "finished").length;
    for (const until = Date.now() + 15_000; Date.now() < until; await sleep(200)) {
      const accounted = (await usage.list("user")).reduce((n, u) => n + u.jobs, 0);
      if (accounted >= finishedCount) break;
    }
    const usageByUser = Object.fromEntries((await usage.list("user")).map((u) => [u.name, { jobs: u.jobs, wallSec: u.wallSec, cpuSec: u.cpuSec }]));
    const census = await Promise.all(factory.queues().map((q) => factory.census(q.name)));
    return summarize({
      taskId: accepted.taskId,
      jobs: records.map((r) => ({ jobId: r.jobId, state: r.state, site: r.site || r.spec.site, inputLfns: r.spec.inputFiles.map((f) => f.lfn), errorCode: r.errorCode })),
      replicas,
      usageByUser,
      pilots: census.reduce((n, c) => n + c.submitted, 0),
      elapsedSec: (Date.now() - started) / 1000,
    });
  } finally {
    await cleanup();
    if (!o.keep) rmSync(work, { recursive: true, force: true });
  }
}

function readText(path: string): string {
  return readFileSync(path, "utf8");
}

async function stopPilots(pids: readonly number[], graceMs = 8000): Promise<void> {
  await stopProcessGroups(pids.filter((p) => p > 0).map(processRef), graceMs);
}
