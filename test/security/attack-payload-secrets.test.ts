// A payload at a site without identity switching (it runs as the pilot's own user) hunts for the
// pilot's secrets: its own environment, the pilot's /proc/<pid>/environ, the token file the factory
// handed over, every file in the pilot's folder. The pilot is a real `wms pilot` process started as
// the factory starts it (--token-file), against the real matchmaker, credential cache and agents.
// The test fails if the payload's loot holds the pilot's token or private key.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
import { SCHEMA_VERSION, type JobSpec, type Site } from "../../schemas/index.ts";
import { createEnvelopeSigner, createProxy, initPki, issueCertificate, JOB_SPEC_SEAL_PURPOSE, loadTrust, PilotTokenStore, readServiceCredentials, sealJobSpec, ServiceSealer } from "../../security/index.ts";
import { uniqueNamespace } from "../support/namespace.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { REPO_ROOT, WMS_BIN } from "../support/run-cli.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Nosy Payload";
const SITE = "OFF_SITE";

let root: string;
let loaded: LoadedConfig;
let storage: string;
let workdir: string;
let pilotKeyPem: string;
let nc: NatsConnection;
let redis: Redis;
let bull: Redis;
let cache: CredentialCache;
let mm: MatchmakerHandle;
let agents: AgentsHandle;
let store: JobStore;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "wms-nosy-"));
  const pkiDir = join(root, "pki");
  initPki(pkiDir);
  storage = join(root, "storage");
  workdir = join(root, "node");
  for (const d of [storage, workdir]) mkdirSync(d, { recursive: true });
  const pilotCert = issueCertificate({ caDir: pkiDir, kind: "pilot", dn: "/DC=org/DC=pilot-wms/OU=Pilots/CN=nosy pilot", roles: ["pilot"] });
  pilotKeyPem = pilotCert.keyPem;
  // The deployment keeps the pilot's key where only root reads it; the pilot reads it at start.
  const keyDir = join(root, "pilot-credential");
  mkdirSync(keyDir, { mode: 0o700 });
  writeFileSync(join(keyDir, "pilot.cert.pem"), pilotCert.certPem);
  writeFileSync(join(keyDir, "pilot.key.pem"), pilotCert.keyPem, { mode: 0o600 });
  const site: Site = { name: SITE, storagePath: storage, online: true, identitySwitch: "off", capacity: 10, softwareTags: [], authz: [], mapping: [] };
  writeFileSync(join(root, "sites.yaml"), toYaml({ schemaVersion: 1, sites: [site] }));
  const configFile = join(root, "wms.yaml");
  writeFileSync(
    configFile,
    toYaml({
      namespace: uniqueNamespace("nosy"),
      pki: { dir: pkiDir },
      pilot: { cert: join(keyDir, "pilot.cert.pem"), key: join(keyDir, "pilot.key.pem") },
      credentials: { encryptionKey: randomBytes(32).toString("base64") },
      sitesFile: join(root, "sites.yaml"),
      logLevel: "warn",
    }),
    { mode: 0o600 },
  );
  loaded = loadConfig({ path: configFile, env: { WMS_NATS_URL: process.env.WMS_NATS_URL, WMS_REDIS_URL: process.env.WMS_REDIS_URL, WMS_RABBITMQ_URL: process.env.WMS_RABBITMQ_URL } });
  const { config, names } = loaded;
  const logger = createLogger("nosy", "silent");
  nc = await openNats(config, "test-nosy");
  redis = openRedis(config);
  bull = openRedis(config, { forBullMq: true });
  const trust = loadTrust(pkiDir);
  cache = startCredentialCache({ nc, redis, names, config, trust, logger });
  mm = await startMatchmaker({ nc, redis, bullConnection: bull, names, config, signer: createEnvelopeSigner(readServiceCredentials(pkiDir, "matchmaker")), logger, sites: [site] });
  agents = await startAgents({ config, names, redis, bullConnection: bull, dispatch: mm.dispatch, logger, only: ["job-state"] });
  const user = issueCertificate({ caDir: pkiDir, kind: "user", dn: USER_DN, roles: [] });
  await new CredentialClient(nc, names, { trust }).delegate(createProxy({ certPem: user.certPem, keyPem: user.keyPem, lifetimeSec: 3600 }), { retrievers: ["role:pilot"] });
  store = new JobStore(redis, names);
}, 60_000);

afterAll(async () => {
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

describe("a payload hunting the pilot's secrets at a site without identity switching", () => {
  it("finds neither the pilot's token nor its key: not in its environment, the pilot's /proc environ, the token file or the pilot's folder", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    const token = await new PilotTokenStore(redis, loaded.names).mint({ site: SITE, factoryId: "nosy-factory", uses: 3, ttlSec: 600 });
    // As the local adapter hands it over: a 0600 file, named on the pilot's command line.
    const tokenFile = join(root, "pilot-1.token");
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const loot = [
      'echo "== env"; env',
      'echo "== pilot environ"; tr "\\000" "\\n" < /proc/$PPID/environ',
      'echo "== pilot cmdline"; tr "\\000" " " < /proc/$PPID/cmdline',
      'echo "== token file"; cat "$TOKEN_FILE"',
      'echo "== pilot folder"; find "$PILOT_DIR" -type f -exec cat {} + ',
    ].join("; ");
    const job: JobSpec = {
      schemaVersion: SCHEMA_VERSION,
      jobId: `${taskId}.0`,
      taskId,
      taskName: "nosy.task",
      kind: "analysis",
      vo: "pilot-wms",
      group: "",
      userDn: USER_DN,
      priority: 0,
      site: SITE,
      executable: "/bin/sh",
      arguments: ["-c", `{ ${loot}; } > "$WMS_OUTPUT_DIR/loot.txt" 2>&1; true`],
      environment: { TOKEN_FILE: tokenFile, PILOT_DIR: join(workdir, "pilot-nosy") },
      requirements: "true",
      rank: "0",
      cores: 1,
      memoryMb: 100,
      walltimeSec: 120,
      inputFiles: [],
      outputDataset: "user.nosy.out",
      attempt: 1,
      maxAttempts: 1,
    };
    const sealer = new ServiceSealer(readServiceCredentials(loaded.config.pki.dir, "intake"), JOB_SPEC_SEAL_PURPOSE);
    await sealer.ready(redis, loaded.names);
    const sealed = sealJobSpec(sealer, job);
    await store.createTask(
      { taskId, taskName: job.taskName, kind: job.kind, vo: job.vo, group: job.group, ownerDn: USER_DN, priority: 0, maxAttempts: 1, outputDataset: job.outputDataset },
      [{ spec: sealed, state: "activated" }],
    );
    await mm.dispatch.enqueue([sealed]);

    const pilot = spawn(process.execPath, [WMS_BIN, "pilot", "--site", SITE, "--work-dir", workdir, "--pilot-id", "pilot-nosy", "--token-file", tokenFile, "--max-empty", "1", "--max-backoff", "0.2", "--json"], {
      cwd: REPO_ROOT,
      env: { ...process.env, WMS_CONFIG: join(root, "wms.yaml"), WMS_NAMESPACE: undefined, WMS_PILOT_TOKEN: undefined },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    pilot.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    pilot.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => pilot.once("exit", resolve));
    expect(code, out).toBe(0);
    await expect.poll(async () => (await store.getJob(job.jobId))?.state, { timeout: 10_000 }).toBe("finished");

    const lootText = readFileSync(join(storage, job.outputDataset, job.jobId, "loot.txt"), "utf8");
    // The payload really looked: it read the pilot's environ and listed the pilot's folder.
    expect(lootText).toContain("== pilot environ");
    expect(lootText).toContain("WMS_CONFIG=");
    expect(lootText).not.toContain(token);
    const keyBody = pilotKeyPem.split("\n").slice(1, 3).join("\n");
    // (The user's proxy in the job folder is the payload's own to use; the pilot's key is not.)
    expect(lootText).not.toContain(keyBody);
    // The token file was gone before the payload started.
    expect(existsSync(tokenFile)).toBe(false);
  }, 90_000);
});
