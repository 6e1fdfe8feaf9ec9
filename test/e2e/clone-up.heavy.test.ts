// From a fresh clone to a finished task, as a new user goes: clone the repository, `npm ci`,
// `wms init`, `wms up --detach`, submit the example task, watch it to the end, check every job's
// output is where the example says, `wms down`. Afterwards no process runs from the clone and the
// temporary folder every process of the run was given (TMPDIR) is empty. Heavy: it installs the
// dependencies into the clone (from npm's cache when it holds them).
// The new user has no WMS_* service variables. With authentication on (the test run's default) the
// clone's wms.yaml names services that do not answer, so `wms up` starts its own servers with the
// deployment's users (as on a machine without services) and nothing logs in anonymously anywhere;
// with WMS_TEST_SERVICES=shared it runs on the machine's services named in wms.yaml as written.
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config.ts";
import { freePort } from "../../platform/local-services.ts";
import { openRabbit, openRedis } from "../../platform/connections.ts";
import { deleteTopology } from "../../agents/reports/index.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { withServiceUrls } from "../support/deployment-folder.ts";
import { REPO_ROOT } from "../support/run-cli.ts";
import { testAuth } from "../support/test-roles.ts";

const run = promisify(execFile);
const root = mkdtempSync(path.join(tmpdir(), "wms-clone-up-"));
const clone = path.join(root, "pilot-wms");
const deployment = path.join(clone, "mygrid");
// Every process of the run gets this as its temporary folder, so "nothing left behind" is checkable.
const runTmp = path.join(root, "tmp");
const env = { ...process.env, TMPDIR: runTmp, CI: "true" } as Record<string, string>;
for (const k of ["WMS_CONFIG", "WMS_NAMESPACE", "WMS_NATS_URL", "WMS_REDIS_URL", "WMS_RABBITMQ_URL"]) delete env[k];

async function wms(args: string[], timeoutMs = 180_000): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [path.join(clone, "bin", "wms.mjs"), ...args], { cwd: deployment, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}

/** Processes whose command line or working directory lies in the clone. */
function processesInClone(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      let cwd = "";
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        /* not ours to read */
      }
      if (cmd.includes(clone) || cwd.startsWith(clone)) out.push(`${pid}: ${cmd.slice(0, 200)}`);
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

beforeAll(async () => {
  mkdirSync(runTmp);
  await run("git", ["clone", "--quiet", REPO_ROOT, clone], { env, timeout: 120_000 });
  await run("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: clone, env, timeout: 900_000, maxBuffer: 64 * 1024 * 1024 });
}, 960_000);

afterAll(async () => {
  // Whatever the test left (it failed half way): stop it, then delete the namespace's records. Its
  // own private servers (with authentication on) went with `wms down`, and their records with them.
  if (existsSync(path.join(deployment, ".wms", "up", "state.json"))) spawnSync(process.execPath, [path.join(clone, "bin", "wms.mjs"), "down", "--timeout", "20"], { cwd: deployment, env, timeout: 60_000 });
  if (!testAuth() && existsSync(path.join(deployment, "wms.yaml"))) {
    const { config, names } = loadConfig({ path: path.join(deployment, "wms.yaml"), env: {} });
    const redis = openRedis(config);
    await deleteNamespaceKeys(redis, names.namespace);
    redis.disconnect();
    const conn = await openRabbit(config);
    await deleteTopology(await conn.createChannel(), names);
    await conn.close();
  }
  rmSync(root, { recursive: true, force: true });
}, 120_000);

describe("from a fresh clone to a finished task", () => {
  it("npm ci, wms init, wms up --detach, the example task to finished with its outputs in place, wms down leaving nothing", async () => {
    await run(process.execPath, [path.join(clone, "bin", "wms.mjs"), "init", "mygrid", "--monitor-port", "0", "--matchmakers", "1"], { cwd: clone, env, timeout: 180_000 });
    if (testAuth()) {
      const file = path.join(deployment, "wms.yaml");
      const nowhere = async (scheme: string): Promise<string> => `${scheme}://127.0.0.1:${await freePort()}`;
      writeFileSync(file, withServiceUrls(readFileSync(file, "utf8"), { WMS_NATS_URL: await nowhere("nats"), WMS_REDIS_URL: await nowhere("redis"), WMS_RABBITMQ_URL: await nowhere("amqp") }));
    }

    const up = await wms(["up", "--detach"], 300_000);
    expect(up.stdout).toMatch(/^wms up runs in the background/);

    const submitted = await wms(["task", "submit", "tasks/data-local-job.yaml", "--cert", "pki/users/production.cert.pem", "--key", "pki/users/production.key.pem"]);
    const taskId = submitted.stdout.trim();
    expect(taskId).toMatch(/^T\d+$/);
    const watched = await wms(["task", "status", taskId, "--watch", "--json"], 300_000);
    const final = JSON.parse(watched.stdout.trim().split("\n").pop() as string) as { task: { njobs: number; status: string; outputDataset: string }; counts: Record<string, number>; failedJobs: unknown[] };
    expect(final.failedJobs).toEqual([]);
    expect(final.task.njobs).toBe(4);
    expect(final.counts.finished).toBe(4);

    // Each job's summary is at <storage of the site that ran it>/<outputDataset>/<jobId>/summary.txt,
    // once, listing the two inputs it read at that site.
    for (let i = 0; i < final.task.njobs; i++) {
      const jobId = `${taskId}.${String(i).padStart(6, "0")}`;
      const found = ["SITE_A", "SITE_B"].map((site) => ({ site, file: path.join(deployment, "storage", site, final.task.outputDataset, jobId, "summary.txt") })).filter((f) => existsSync(f.file));
      expect(found, jobId).toHaveLength(1);
      const lines = readFileSync(found[0].file, "utf8").trim().split("\n");
      expect(lines[0]).toBe(`${taskId} ${jobId} attempt 1 at ${found[0].site}`);
      expect(lines.slice(1)).toHaveLength(2);
      for (const l of lines.slice(1)) expect(l).toMatch(/^\d+ file\d{4}\.txt [0-9a-f]{32}$/);
    }

    const down = await wms(["down"], 180_000);
    expect(down.stdout).toMatch(/^stopped \d+ process\(es\)/);
    await expect.poll(processesInClone, { timeout: 15_000 }).toEqual([]);
    // tsx keeps a transpile cache in the temporary folder when the CLI runs from its TypeScript
    // sources; a clone whose `npm ci` built dist/ runs no tsx, and then nothing at all may be there.
    const transpileCache = (e: string): boolean => !existsSync(path.join(clone, "dist")) && /^tsx-\d+$/.test(e);
    expect(readdirSync(runTmp).filter((e) => !transpileCache(e))).toEqual([]);
    expect(existsSync(path.join(deployment, ".wms", "up", "state.json"))).toBe(false);

    // A rebuild in the clone leaves the deployment folder (its keys, its data) out of dist/.
    await run("npm", ["run", "build"], { cwd: clone, env, timeout: 300_000 });
    expect(existsSync(path.join(clone, "dist", "bundle", "wms.js"))).toBe(true);
    expect(existsSync(path.join(clone, "dist", "mygrid"))).toBe(false);
  }, 900_000);
});
