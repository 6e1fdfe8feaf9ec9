// A worker node dies under a running job: a real `wms pilot` process is killed with SIGKILL (its
// whole process group) while its payload sleeps. Nothing tells the system; the job's lock simply
// stops being extended. The matchmaker's stalled check must put the job back on its queue with
// attempt 2, and a second `wms pilot` on the same node must run it to `finished`.
// (test/matchmaker/lost-heartbeat.test.ts kills a heartbeat-only stand-in; this one kills the real
// pilot mid-payload, with the credential cache, matchmaker and agents all real.)
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "nats";
import type { Redis } from "ioredis";
import { stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
import { uniqueNamespace } from "../support/namespace.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { REPO_ROOT, WMS_BIN } from "../support/run-cli.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Kill Nine";
const SITE = "KILL_SITE";
// The pilot heartbeats every second; the lease outlives several beats or a live pilot would lose it.
const LOCK_SEC = 7;

let root: string;
let loaded: LoadedConfig;
let configFile: string;
let marks: string;
let storage: string;
let workdir: string;
let nc: NatsConnection;
let redis: Redis;
let bull: Redis;
let cache: CredentialCache;
let mm: MatchmakerHandle;
let agents: AgentsHandle;
let tokens: PilotTokenStore;
let store: JobStore;
const pilots: ChildProcess[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "wms-kill9-"));
  const pkiDir = join(root, "pki");
  initPki(pkiDir);
  storage = join(root, "storage");
  workdir = join(root, "node");
  marks = join(root, "marks");
  for (const d of [storage, workdir, marks]) mkdirSync(d, { recursive: true });
  const pilotCert = issueCertificate({ caDir: pkiDir, kind: "pilot", dn: "/DC=org/DC=pilot-wms/OU=Pilots/CN=kill9 pilot", roles: ["pilot"] });
  writeFileSync(join(root, "pilot.cert.pem"), pilotCert.certPem);
  writeFileSync(join(root, "pilot.key.pem"), pilotCert.keyPem, { mode: 0o600 });
  const site: Site = { name: SITE, storagePath: storage, online: true, identitySwitch: "off", capacity: 10, softwareTags: [], authz: [], mapping: [] };
  const sites: SiteConfig = { schemaVersion: 1, sites: [site] };
  writeFileSync(join(root, "sites.yaml"), toYaml(sites));
  configFile = join(root, "wms.yaml");
  writeFileSync(
    configFile,
    toYaml({
      namespace: uniqueNamespace("kill9"),
      pki: { dir: pkiDir },
      pilot: { cert: join(root, "pilot.cert.pem"), key: join(root, "pilot.key.pem") },
      credentials: { encryptionKey: randomBytes(32).toString("base64") },
      jobs: { heartbeatSec: 1, leaseSec: LOCK_SEC, leaseCheckSec: 0.5 },
      matchmaker: { nomatchBackoffSec: 0.2 },
      sitesFile: join(root, "sites.yaml"),
      logLevel: "warn",
    }),
    { mode: 0o600 },
  );
  // Loopback URLs from the environment as every test uses them; the rest from the file the pilots read too.
  loaded = loadConfig({ path: configFile, env: { WMS_NATS_URL: process.env.WMS_NATS_URL, WMS_REDIS_URL: process.env.WMS_REDIS_URL, WMS_RABBITMQ_URL: process.env.WMS_RABBITMQ_URL } });
  const { config, names } = loaded;
  const logger = createLogger("faults", "silent");
  nc = await openNats(config, "test-kill9");
  redis = openRedis(config);
  bull = openRedis(config, { forBullMq: true });
  const trust = loadTrust(pkiDir);
  cache = startCredentialCache({ nc, redis, names, config, trust, logger });
  mm = await startMatchmaker({ nc, redis, bullConnection: bull, names, config, signer: createEnvelopeSigner(readServiceCredentials(pkiDir, "matchmaker")), logger, sites: [site] });
  agents = await startAgents({ config, names, redis, bullConnection: bull, dispatch: mm.dispatch, logger, only: ["job-state"] });
  const user = issueCertificate({ caDir: pkiDir, kind: "user", dn: USER_DN, roles: [] });
  await new CredentialClient(nc, names, { trust }).delegate(createProxy({ certPem: user.certPem, keyPem: user.keyPem, lifetimeSec: 3600 }), { retrievers: ["role:pilot"] });
  tokens = new PilotTokenStore(redis, names);
  store = new JobStore(redis, names);
});

afterAll(async () => {
  for (const p of pilots) if (p.exitCode === null && p.signalCode === null && p.pid) killGroup(p.pid);
  // A payload leads its own process group, so killing its pilot leaves it orphaned: end those too.
  if (marks && existsSync(marks)) for (const f of readdirSync(marks)) killOurPayload(Number(readFileSync(join(marks, f), "utf8").trim()));
  await agents?.stop();
  await mm?.stop();
  await cache?.stop();
  if (redis) await deleteNamespaceKeys(redis, loaded.names.namespace);
  if (nc) {
    const conn = await openRabbit(loaded.config);
    const ch = await conn.createChannel();
    await deleteTopology(ch, loaded.names).catch(() => undefined);
    await conn.close();
    await nc.drain();
  }
  redis?.disconnect();
  bull?.disconnect();
  if (root) rmSync(root, { recursive: true, force: true });
});

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

/** Only while the pid is still one of this test's payloads (its environment names our marks dir): pids get reused. */
function killOurPayload(pid: number): void {
  try {
    if (readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`MARKS=${marks}`)) killGroup(pid);
  } catch {
    /* already gone */
  }
}

/** `wms pilot` as the factory starts it: its own process group, token in the environment. */
async function startPilot(pilotId: string): Promise<{ child: ChildProcess; output: () => string }> {
  const token = await tokens.mint({ site: SITE, factoryId: "kill9-factory", uses: 3, ttlSec: 600 });
  const child = spawn(process.execPath, [WMS_BIN, "pilot", "--site", SITE, "--work-dir", workdir, "--pilot-id", pilotId, "--max-empty", "1", "--max-backoff", "0.2", "--json"], {
    cwd: REPO_ROOT,
    env: { ...process.env, WMS_CONFIG: configFile, WMS_NAMESPACE: undefined, WMS_PILOT_TOKEN: token },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  pilots.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

async function jobState(jobId: string): Promise<string> {
  const r = await store.getJob(jobId);
  return `${r?.state}/${r?.attempt}/${r?.pilotId ?? ""}`;
}

describe("a pilot killed with SIGKILL mid-job", () => {
  it("loses only its attempt: the job returns to its queue with attempt 2 after the lock timeout and finishes on a second pilot", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    const job: JobSpec = {
      schemaVersion: SCHEMA_VERSION,
      jobId: `${taskId}.0`,
      taskId,
      taskName: "kill9.task",
      kind: "analysis",
      vo: "pilot-wms",
      group: "",
      userDn: USER_DN,
      priority: 0,
      site: SITE,
      executable: "/bin/sh",
      // The payload's pid names its attempt, so the test knows it started and can end an orphan.
      // The first attempt would outlive its pilot (a minute); the next pilot on the node must kill it.
      arguments: ["-c", 'echo $$ > "$MARKS/attempt-$WMS_ATTEMPT.pid"; if [ "$WMS_ATTEMPT" = 1 ]; then sleep 60; else sleep 3; fi; echo "attempt $WMS_ATTEMPT by $WMS_PILOT_ID" > "$WMS_OUTPUT_DIR/out.txt"'],
      environment: { MARKS: marks },
      requirements: "true",
      rank: "0",
      cores: 1,
      memoryMb: 100,
      walltimeSec: 120,
      inputFiles: [],
      outputDataset: "user.kill9.out",
      attempt: 1,
      maxAttempts: 3,
    };
    // Sealed as the intake seals what it queues.
    const sealer = new ServiceSealer(readServiceCredentials(loaded.config.pki.dir, "intake"), JOB_SPEC_SEAL_PURPOSE);
    await sealer.ready(redis, loaded.names);
    const sealed = sealJobSpec(sealer, job);
    await store.createTask(
      { taskId, taskName: job.taskName, kind: job.kind, vo: job.vo, group: job.group, ownerDn: USER_DN, priority: 0, maxAttempts: 3, outputDataset: job.outputDataset },
      [{ spec: sealed, state: "activated" }],
    );
    await mm.dispatch.enqueue([sealed]);

    const first = await startPilot("pilot-doomed");
    const firstMark = join(marks, "attempt-1.pid");
    await expect.poll(() => existsSync(firstMark) && readFileSync(firstMark, "utf8").trim() !== "", { timeout: 20_000, interval: 100 }).toBe(true);
    // Its running report reached the job-state agent: the job is mid-payload on this pilot.
    await expect.poll(() => jobState(job.jobId), { timeout: 10_000, interval: 100 }).toBe("running/1/pilot-doomed");

    killGroup(first.child.pid as number);
    await exited(first.child);
    expect(first.child.signalCode).toBe("SIGKILL");

    // Nothing reports the death: the job is still the dead pilot's until its lock lapses.
    expect(await jobState(job.jobId)).toBe("running/1/pilot-doomed");
    await expect.poll(() => jobState(job.jobId), { timeout: (LOCK_SEC + 8) * 1000, interval: 100 }).toBe("activated/2/");
    expect(await mm.dispatch.waitingCount(SITE)).toBe(1);

    const second = await startPilot("pilot-rescuer");
    expect(await exited(second.child)).toBe(0);
    const summary = JSON.parse(second.output().trim().split("\n").at(-1) ?? "{}") as { jobsDone?: number; results?: Array<{ jobId: string; status: string }> };
    expect(summary.jobsDone).toBe(1);
    expect(summary.results?.map((r) => `${r.jobId}:${r.status}`)).toEqual([`${job.jobId}:finished`]);
    await expect.poll(() => jobState(job.jobId), { timeout: 10_000, interval: 100 }).toBe("finished/2/pilot-rescuer");
    expect(readFileSync(join(storage, job.outputDataset, job.jobId, "out.txt"), "utf8").trim()).toBe("attempt 2 by pilot-rescuer");
    expect(await store.taskCounts(taskId)).toMatchObject({ finished: 1, failed: 0, sent: 0, running: 0, activated: 0 });
    expect(await mm.dispatch.waitingCount(SITE)).toBe(0);
    // The rescuer tidied up after the dead pilot: its orphaned payload is gone, and so are its
    // directory and every credential in it (the user's proxy, the pilot's token and key).
    const orphan = Number(readFileSync(firstMark, "utf8").trim());
    expect(existsSync(`/proc/${orphan}`) && readFileSync(`/proc/${orphan}/stat`, "utf8").split(" ")[2] !== "Z").toBe(false);
    expect(existsSync(join(workdir, "pilot-doomed"))).toBe(false);
  }, 90_000);
});
