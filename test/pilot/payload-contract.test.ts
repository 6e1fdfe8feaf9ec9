// The payload contract (agents/pilot/README.md) as a user meets it: pilots started by
// `wms factory run` from a folder given as a relative --work-dir, the payload using every variable
// it documents after `cd /`. A relative path anywhere in its environment fails the job.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, readDataFile, type LoadedConfig } from "../../platform/config.ts";
import { createLogger } from "../../platform/logger.ts";
import { openRabbit } from "../../platform/connections.ts";
import { ReplicaCatalog, type TaskBatch } from "../../schemas/index.ts";
import { createBatchEnvelopeSigner, loadTrust, readServiceCredentials, signTaskBatch } from "../../security/index.ts";
import { startIntake, startMatchmaker, type MatchmakerHandle } from "../../matchmaker/index.ts";
import type { DispatchQueues } from "../../jobs/index.ts";
import { ReplicaCatalogStore } from "../../matchmaker/replica-catalog.ts";
import { TaskClient } from "../../matchmaker/task-client.ts";
import { CredentialClient, startCredentialCache } from "../../agents/credentials/index.ts";
import { startAgents } from "../../agents/job-state/index.ts";
import { deleteTopology } from "../../agents/reports/index.ts";
import { initDeployment } from "../../deployment/init-deployment.ts";
import { stopLocalPilots } from "../../deployment/local-pilots.ts";
import { openLiveServices, openNatsAs, type LiveServices } from "../support/live-services.ts";
import { asRole, roleEnv, roleIdentityFile, serviceUrlEnv } from "../support/test-roles.ts";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import type { NatsConnection } from "nats";
import { uniqueNamespace } from "../support/namespace.ts";
import { runCli, WMS_BIN } from "../support/run-cli.ts";

const base = mkdtempSync(path.join(tmpdir(), "wms-contract-"));
const dir = path.join(base, "dep");
let loaded: LoadedConfig;
let live: LiveServices;
/** The submitting user's connection (the operator role, as `wms task submit` and `wms proxy init` have). */
let userNc: NatsConnection;
let factory: ChildProcess | undefined;
let factoryLog = "";
const stops: Array<() => Promise<unknown>> = [];

// Every documented variable, each used; the paths after `cd /`, so a relative one breaks.
const PAYLOAD = [
  "set -e",
  'start_pwd="$PWD"',
  "cd /",
  'for p in "$WMS_OUTPUT_DIR" "$X509_USER_PROXY" "$HOME" "$start_pwd"; do case "$p" in /*) ;; *) echo "relative path: $p" >&2; exit 7;; esac; done',
  'printf "%s\\n" "$WMS_INPUTS" | while IFS= read -r f; do case "$f" in /*) ;; *) echo "relative input: $f" >&2; exit 8;; esac; md5sum < "$f" | cut -c1-32; done > "$WMS_OUTPUT_DIR/inputs.md5"',
  'head -1 "$X509_USER_PROXY" > "$WMS_OUTPUT_DIR/proxy-head.txt"',
  'echo "job=$WMS_JOB_ID task=$WMS_TASK_ID site=$WMS_SITE attempt=$WMS_ATTEMPT pilot=$WMS_PILOT_ID home=$HOME pwd=$start_pwd lang=$LANG mine=$MY_SETTING" > "$WMS_OUTPUT_DIR/contract.txt"',
  'command -v md5sum >> "$WMS_OUTPUT_DIR/contract.txt"',
].join("\n");

beforeAll(async () => {
  const init = initDeployment({ dir, namespace: uniqueNamespace("contract"), monitorPort: 0 });
  // On the run's authenticated servers the factory gives its pilots the pilot identity (pilot.identityFile).
  const pilotIdentity = roleIdentityFile("pilot");
  if (pilotIdentity !== undefined) {
    const doc = parseYaml(readFileSync(init.configFile, "utf8")) as Record<string, Record<string, unknown> | undefined>;
    writeFileSync(init.configFile, stringifyYaml({ ...doc, pilot: { ...doc.pilot, identityFile: pilotIdentity } }));
  }
  loaded = loadConfig({ path: init.configFile, env: serviceUrlEnv() });
  const { config, names } = loaded;
  // Each service as its role; Redis through the matchmaker's connection (every service role has
  // the same Redis ACL), NATS and RabbitMQ as each role.
  live = await openLiveServices(loaded, "payload-contract", { as: "matchmaker" });
  const { nc, redis } = live;
  const logger = createLogger("contract-test", "warn");
  const trust = loadTrust(config.pki.dir);
  const cacheNc = await openNatsAs(loaded, "credentials", "payload-contract-cache");
  const intakeNc = await openNatsAs(loaded, "intake", "payload-contract-intake");
  userNc = await openNatsAs(loaded, "operator", "payload-contract-user");
  stops.push(() => Promise.all([cacheNc.close(), intakeNc.close(), userNc.close()]));
  const cache = startCredentialCache({ nc: cacheNc, redis, names, config: asRole(loaded, "credentials").config, trust, logger });
  // Its subscriptions are in place before anything asks it (under load a request could find no responder).
  await cache.ready;
  stops.push(() => cache.stop());
  const mm: MatchmakerHandle = await startMatchmaker({ nc, redis, names, config, signer: createBatchEnvelopeSigner(readServiceCredentials(config.pki.dir, "matchmaker")), logger });
  stops.push(() => mm.stop());
  const dispatch: DispatchQueues = mm.dispatch;
  const intake = await startIntake({ nc: intakeNc, redis, names, config, trust, dispatch, logger });
  stops.push(() => intake.stop());
  const agents = await startAgents({ config: asRole(loaded, "agents").config, names, redis, dispatch, logger });
  stops.push(() => agents.stop());
  await new ReplicaCatalogStore(redis, names).load(ReplicaCatalog.parse(readDataFile(config.up.catalogs[0])));
  const user = config.up.delegate[0];
  await new CredentialClient(userNc, names, { trust }).delegate({ certChain: [readFileSync(user.cert, "utf8")], keyPem: readFileSync(user.key, "utf8") }, { retrievers: ["role:pilot"], lifetimeSec: 3600 });

  // The factory as an operator runs it: its own process, relative paths, from the deployment folder.
  factory = spawn(process.execPath, [WMS_BIN, "--config", "wms.yaml", "factory", "run", "--work-dir", "factory-work"], { cwd: dir, env: { ...process.env, ...roleEnv("factory"), WMS_CONFIG: undefined }, stdio: ["ignore", "pipe", "pipe"] });
  factory.stdout?.on("data", (d: Buffer) => (factoryLog += d.toString()));
  factory.stderr?.on("data", (d: Buffer) => (factoryLog += d.toString()));
}, 120_000);

afterAll(async () => {
  if (factory && factory.exitCode === null) {
    const gone = new Promise((r) => factory?.once("exit", r));
    factory.kill("SIGTERM");
    await gone;
  }
  await stopLocalPilots(dir, 5000);
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  if (loaded) {
    const conn = await openRabbit(asRole(loaded, "agents").config);
    const ch = await conn.createChannel();
    await deleteTopology(ch, loaded.names);
    await conn.close();
  }
  await live?.close();
  rmSync(base, { recursive: true, force: true });
});

describe("the payload contract under `wms factory run`", () => {
  it("hands the payload absolute paths and every documented variable, whatever folder the factory was started from", async () => {
    const { config, names } = loaded;
    const prod = config.up.delegate[0];
    const batch: TaskBatch = {
      schemaVersion: 1,
      taskName: "contract.check",
      kind: "production",
      vo: "atlas",
      group: "prod",
      priority: 0,
      jobTemplate: { executable: "/bin/sh", arguments: ["-c", PAYLOAD], environment: { MY_SETTING: "on", HOME: "/not/the/job/dir" }, cores: 1, memoryMb: 256, walltimeSec: 300 },
      inputDatasets: ["examples.ds000", "examples.ds001"],
      filesPerJob: 4,
      outputDataset: "contract.out",
      maxAttempts: 1,
    };
    const signed = signTaskBatch(batch, { certChain: [readFileSync(prod.cert, "utf8")], keyPem: readFileSync(prod.key, "utf8") });
    const accepted = await new TaskClient(userNc, names).submit(signed);
    expect(accepted.jobs).toBe(2);

    const r = await runCli(["--config", "wms.yaml", "task", "status", accepted.taskId, "--watch", "--json", "--interval", "0.5"], { cwd: dir, env: { ...roleEnv("operator"), WMS_CONFIG: undefined }, timeoutMs: 150_000 });
    const final = JSON.parse(r.stdout.trim().split("\n").pop() as string) as { counts: Record<string, number>; failedJobs: Array<{ code: number; message: string }> };
    expect(final.failedJobs, factoryLog).toEqual([]);
    expect(final.counts.finished).toBe(2);

    const catalog = ReplicaCatalog.parse(readDataFile(config.up.catalogs[0]));
    const md5 = new Map(catalog.datasets.flatMap((d) => d.files.map((f) => [path.basename(f.lfn), { md5: f.md5, dataset: d.name }] as const)));
    const pilotsDir = path.join(dir, ".wms", "pilots");
    let jobs = 0;
    for (const site of ["SITE_A", "SITE_B"]) {
      const outDir = path.join(dir, "storage", site, "contract.out");
      for (const jobId of existsSync(outDir) ? readdirSync(outDir) : []) {
        jobs++;
        const read = (f: string): string => readFileSync(path.join(outDir, jobId, f), "utf8");
        const [line, md5sumPath] = read("contract.txt").trim().split("\n");
        const fields = Object.fromEntries(line.split(" ").map((kv) => kv.split("=") as [string, string]));
        expect(fields).toMatchObject({ job: jobId, task: accepted.taskId, site, attempt: "1", lang: "C.UTF-8", mine: "on" });
        expect(fields.pilot).toMatch(new RegExp(`^${site}-local\\.`));
        // HOME and PWD are the job folder, under the pilots' folder made absolute; the task could not override HOME.
        expect(fields.home).toBe(path.join(pilotsDir, fields.pilot, "jobs", `${jobId}.1`));
        expect(fields.pwd).toBe(fields.home);
        expect(md5sumPath).toMatch(/^\/.*md5sum$/);
        expect(read("proxy-head.txt").trim()).toBe("-----BEGIN CERTIFICATE-----");
        // The inputs the payload read are the files the catalog lists, checksums and all, all from this site's dataset.
        const sums = read("inputs.md5").trim().split("\n");
        expect(sums).toHaveLength(4);
        const expected = catalog.datasets.find((d) => d.files.every((f) => f.sites.includes(site)))?.files.map((f) => f.md5);
        expect(sums).toEqual(expected);
        expect([...md5.values()].filter((v) => sums.includes(v.md5)).every((v) => v.dataset === catalog.datasets.find((d) => d.files[0].sites.includes(site))?.name)).toBe(true);
        // The job folder, and the proxy with it, is gone after the job.
        expect(existsSync(fields.home)).toBe(false);
      }
    }
    expect(jobs).toBe(2);
  }, 200_000);
});
