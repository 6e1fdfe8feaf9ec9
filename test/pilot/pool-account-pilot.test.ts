// A real `wms pilot` process at a site that maps users to pool accounts and requires the identity
// switch: it leases the account from the pool-lease service over NATS, with no Redis to reach (its
// Redis URL points at a closed port), runs the payload as that account and gives the account back
// clean. The credential cache, the matchmaker, the agents and the pool-lease service are real.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openNats, openRedis } from "../../platform/connections.ts";
import type { RedisClient } from "../../platform/redis-client.ts";
import { PoolLease, loadSiteConfig, startPoolLeaseService, type PoolLeaseService } from "../../site-authz/index.ts";
import { startPilotStage, type PilotStage } from "../support/pilot-stage.ts";
import { REPO_ROOT, WMS_BIN } from "../support/run-cli.ts";
import { asRole, roleEnv } from "../support/test-roles.ts";
import { createUser, removeUser } from "../site-authz/support/local-users.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Pool Walker";
const SITE = "POOL_PILOT_SITE";

let stage: PilotStage;
let service: PoolLeaseService | undefined;
let serviceRedis: RedisClient | undefined;
let closeServiceNats: (() => Promise<void>) | undefined;
let account: { name: string; uid: number; gid: number };
let pilot: ChildProcess | undefined;

beforeAll(async () => {
  account = createUser("wmsl");
  stage = await startPilotStage({
    label: "poolpilot",
    site: SITE,
    userDn: USER_DN,
    siteOverrides: { identitySwitch: "required", mapping: [{ type: "pool", accounts: [account.name], leaseSec: 3600 }] },
    config: { jobs: { heartbeatSec: 1 }, matchmaker: { nomatchBackoffSec: 0.2 } },
  });
  // Every ancestor of a job dir must be searchable by the mapped account.
  chmodSync(stage.root, 0o711);
  chmodSync(stage.workdir, 0o711);
  const as = asRole(stage.loaded, "pool-leases");
  const nc = await openNats(as.config, "test-poolpilot-pool-leases");
  closeServiceNats = () => nc.close();
  serviceRedis = openRedis(as.config);
  service = startPoolLeaseService({ nc, redis: serviceRedis, names: stage.loaded.names, sites: loadSiteConfig(stage.loaded.config.sitesFile).sites });
  await service.ready;
}, 120_000);

afterAll(async () => {
  if (pilot?.pid && pilot.exitCode === null && pilot.signalCode === null) process.kill(-pilot.pid, "SIGKILL");
  await service?.stop();
  await closeServiceNats?.();
  serviceRedis?.disconnect();
  await stage?.stop();
  if (account) removeUser(account.name);
});

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

describe("a pilot at a pool-account site", () => {
  it("leases the account through the pool-lease service with no Redis to reach, runs the payload as it and releases it clean", async () => {
    const job = stage.shellJob({ taskId: `tpool${process.pid}`, name: "poolwalk", script: 'id -u > "$WMS_OUTPUT_DIR/uid.txt"' });
    await stage.enqueue(job);
    const token = await stage.token();
    pilot = spawn(process.execPath, [WMS_BIN, "pilot", "--site", SITE, "--work-dir", stage.workdir, "--pilot-id", "pool-pilot-1", "--max-empty", "1", "--max-backoff", "0.2", "--json"], {
      cwd: REPO_ROOT,
      // No Redis for the pilot: a closed port, so any attempt to use it would fail the job.
      env: { ...process.env, WMS_CONFIG: stage.configFile, WMS_NAMESPACE: undefined, WMS_PILOT_TOKEN: token, WMS_REDIS_URL: "redis://127.0.0.1:1", ...roleEnv("pilot") },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let out = "";
    pilot.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    pilot.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    expect(await exited(pilot), out).toBe(0);
    await expect.poll(async () => (await stage.store.getJob(job.jobId))?.state, { timeout: 30_000, interval: 200 }).toBe("finished");
    expect(readFileSync(join(stage.storage, job.outputDataset, job.jobId, "uid.txt"), "utf8").trim()).toBe(String(account.uid));
    const leases = await new PoolLease(stage.redis, stage.loaded.names, SITE).list();
    expect(leases).toEqual([expect.objectContaining({ account: account.name, dn: USER_DN, holders: [], clean: true })]);
  }, 120_000);
});
