// The clients on clusters: a private 6-node Redis Cluster (3 masters, 3 replicas) and a private
// 3-node NATS cluster (no JetStream), from the installed servers. `wms services check` reports the
// cluster's masters, the Cluster client keeps keys through a failover, and a whole task runs over a
// NATS server list (two matchmaker processes in one queue group, each on its own node, and real
// pilots). The whole task on all three clusters at once, with a master killed, is
// test/scale/clusters-task.heavy.test.ts. Every client connects as its role (test-roles.ts); in a run
// with authentication on, the clusters take the run's users (private-clusters.ts).
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config.ts";
import { openRedis } from "../../platform/connections.ts";
import { initPki } from "../../security/index.ts";
import { startNatsCluster, startRedisCluster, type PrivateNatsCluster, type PrivateRedisCluster } from "../support/private-clusters.ts";
import { startPilotStage } from "../support/pilot-stage.ts";
import { runCli } from "../support/run-cli.ts";
import { uniqueNamespace } from "../support/namespace.ts";
import { asRole, roleEnv } from "../support/test-roles.ts";

let redisCluster: PrivateRedisCluster | undefined;
let natsCluster: PrivateNatsCluster | undefined;
let dir = "";
let configFile = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wms-cluster-test-"));
  [redisCluster, natsCluster] = await Promise.all([startRedisCluster("t"), startNatsCluster("t")]);
  initPki(join(dir, "pki"));
  configFile = join(dir, "wms.yaml");
  // The run's broker (its own with authentication on, else the machine's).
  const rabbitUrl = process.env.WMS_RABBITMQ_URL ?? loadConfig({ env: {} }).config.rabbitmq.url;
  writeFileSync(
    configFile,
    JSON.stringify({ namespace: uniqueNamespace("cluster"), pki: { dir: join(dir, "pki") }, nats: { url: natsCluster.serverList }, redis: { cluster: { nodes: redisCluster.nodes } }, rabbitmq: { url: rabbitUrl } }),
  );
}, 180_000);

afterAll(async () => {
  await Promise.all([redisCluster?.stop(), natsCluster?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Redis Cluster (3 masters, 3 replicas)", () => {
  it("is formed, and 'wms services check' reports the cluster and the NATS server list up", async () => {
    expect(await redisCluster!.masters()).toHaveLength(3);
    // As the credential cache: the one role with a user on all three services.
    const check = async (): Promise<{ r: Awaited<ReturnType<typeof runCli>>; out: { ok: boolean; services: Array<{ service: string; up: boolean; detail?: string }> } }> => {
      const r = await runCli(["--config", configFile, "services", "check", "--json"], { env: { WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_REDIS_URL: undefined, WMS_NATS_URL: undefined, WMS_RABBITMQ_URL: undefined, ...roleEnv("credentials") } });
      return { r, out: JSON.parse(r.stdout) as { ok: boolean; services: Array<{ service: string; up: boolean; detail?: string }> } };
    };
    let { r, out } = await check();
    expect(out.services.filter((s) => !s.up)).toEqual([]);
    // Replicas attach to their masters a little after the cluster is created, and until then the
    // check truthfully says which masters have none; it settles to the plain line once they have.
    for (const until = Date.now() + 40_000; out.services.find((s) => s.service === "redis")?.detail !== "3 masters answering, cluster_state ok" && Date.now() < until; ) {
      await new Promise((res) => setTimeout(res, 1000));
      ({ r, out } = await check());
    }
    expect(out.services.find((s) => s.service === "redis")?.detail).toBe("3 masters answering, cluster_state ok");
    expect(out.ok).toBe(true);
    expect(r.code).toBe(0);
  }, 120_000);

  it("spreads keys over all three masters through the Cluster client, and keeps them when a master dies and its replica takes over", async () => {
    const cfg = asRole(loadConfig({ path: configFile, env: {} }), "matchmaker").config;
    const c = openRedis(cfg) as Cluster;
    try {
      // In the deployment's namespace: the only keys a role may touch.
      const ns = loadConfig({ path: configFile, env: {} }).names.namespace;
      const keys = Array.from({ length: 300 }, (_, i) => `${ns}:probe:${i}`);
      await Promise.all(keys.map((k, i) => c.set(k, String(i))));
      const masters = c.nodes("master");
      const sizes = await Promise.all(masters.map((m) => m.dbsize()));
      expect(sizes).toHaveLength(3);
      for (const n of sizes) expect(n).toBeGreaterThan(0);
      // Replicated before the crash, so the promoted replica holds them.
      await Promise.all(masters.map((m) => m.call("WAIT", "1", "5000")));
      const victimPort = (await redisCluster!.masters())[0];
      await redisCluster!.servers.find((s) => s.port === victimPort)!.kill();
      await expect.poll(async () => (await redisCluster!.masters()).filter((p) => p !== victimPort).length, { timeout: 30_000, interval: 500 }).toBe(3);
      await expect.poll(async () => (await Promise.all(keys.map((k) => c.get(k).catch(() => null)))).filter((v, i) => v === String(i)).length, { timeout: 30_000, interval: 500 }).toBe(300);
      // The cluster serves every slot again, and 'wms services check' says so, but also names the
      // dead node (a seed of redis.cluster.nodes) and the promoted master that now has no replica:
      // the next crash there takes its slots down. It used to say only "3 masters answering".
      const promoted = (await redisCluster!.masters()).filter((p) => !masters.some((m) => m.options.port === p));
      expect(promoted).toHaveLength(1);
      const r = await runCli(["--config", configFile, "services", "check", "--json"], { env: { WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_REDIS_URL: undefined, WMS_NATS_URL: undefined, WMS_RABBITMQ_URL: undefined, ...roleEnv("operator") } });
      const redis = (JSON.parse(r.stdout) as { services: Array<{ service: string; up: boolean; detail?: string }> }).services.find((s) => s.service === "redis");
      expect(redis?.up, r.stdout).toBe(true);
      expect(redis?.detail).toMatch(new RegExp(`^3 masters answering, cluster_state ok; 5 of 6 seed nodes answer; not answering: 127\\.0\\.0\\.1:${victimPort} \\(.*ECONNREFUSED.*\\); 1 of 6 cluster nodes serve no slot \\(failed, or not joined\\); no replica for master 127\\.0\\.0\\.1:${promoted[0]}$`));
    } finally {
      c.disconnect();
    }
  }, 120_000);
});

describe("a Redis Cluster node given as the one server (redis.url)", () => {
  it("is refused with one E1002 line naming redis.cluster.nodes, not E1003 'MOVED ...', from the config file and from WMS_REDIS_URL", async () => {
    // A replica serves no slot: every command that names a key is redirected (MOVED) to a master.
    // One that is up: the failover test above killed a master (its replica took over).
    const nodes = String(await redisCluster!.adminCall((await redisCluster!.masters())[0], "CLUSTER", "NODES"));
    const replica = nodes
      .split("\n")
      .map((l) => l.split(" "))
      .filter((f) => f.length > 2 && f[2].split(",").includes("slave") && !f[2].split(",").includes("fail"))
      .map((f) => Number(/:(\d+)@/.exec(f[1])?.[1]))[0];
    expect(replica, nodes).toBeGreaterThan(0);
    const single = join(dir, "single.yaml");
    writeFileSync(single, JSON.stringify({ namespace: uniqueNamespace("cluster1"), pki: { dir: join(dir, "pki") }, redis: { url: `redis://127.0.0.1:${replica}` } }));
    const env = { WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_REDIS_URL: undefined, ...roleEnv("operator") };
    const fromFile = await runCli(["--config", single, "task", "status", "T1"], { env });
    const fromEnv = await runCli(["--config", configFile, "task", "status", "T1"], { env: { ...env, WMS_REDIS_URL: `redis://127.0.0.1:${replica}` } });
    for (const [label, r] of [["redis.url", fromFile], ["WMS_REDIS_URL", fromEnv]] as const) {
      const lines = r.stderr.trimEnd().split("\n");
      expect(lines, `${label}: ${r.stderr}`).toHaveLength(1);
      expect(lines[0], label).toMatch(new RegExp(`^wms: error E1002 BAD_CONFIG: .*redis\\.url 127\\.0\\.0\\.1:${replica} is a node of a Redis Cluster \\(it answered MOVED \\d+ .*redis\\.cluster\\.nodes in wms\\.yaml.*WMS_REDIS_URL`));
      expect(r.stderr, label).not.toMatch(/^\s+at /m);
      expect(r.code, label).toBe(1);
    }
    // 'wms services check' says the same before any keyed command: PING alone found it up.
    const check = await runCli(["--config", single, "services", "check", "--json"], { env });
    const redis = (JSON.parse(check.stdout) as { services: Array<{ service: string; state: string; code?: number; error?: string }> }).services.find((s) => s.service === "redis");
    expect(redis, check.stdout).toMatchObject({ state: "bad-config", code: 1002 });
    expect(redis?.error).toMatch(new RegExp(`^redis\\.url 127\\.0\\.0\\.1:${replica} is a node of a Redis Cluster \\(its INFO reports cluster_enabled:1\\); .*redis\\.cluster\\.nodes in wms\\.yaml`));
    expect(check.code).toBe(1);
    const text = await runCli(["--config", single, "services", "check"], { env });
    expect(text.stdout).toMatch(/^ {2}CONF {2}redis .*: E1002 redis\.url .* is a node of a Redis Cluster/m);
    expect(text.stdout).toContain("misconfigured: redis");
  }, 60_000);
});

describe("NATS cluster (3 nodes, routes)", () => {
  it("runs a whole task with nats.url the three nodes' server list: every job finished once, two matchmaker processes in one queue group on different nodes", async () => {
    const sites = ["NCL_0", "NCL_1", "NCL_2", "NCL_3"];
    const jobs = 40;
    const stage = await startPilotStage({
      label: "natscluster",
      site: sites[0],
      extraSites: sites.slice(1),
      userDn: "/DC=org/DC=pilot-wms/OU=People/CN=Nats Cluster",
      matchmakerProcesses: 2,
      services: { nats: natsCluster!.serverList, matchmakerNats: [natsCluster!.urls[0], natsCluster!.urls[1]] },
      config: { jobs: { heartbeatSec: 0.5, leaseSec: 6, leaseCheckSec: 0.5 }, matchmaker: { nomatchBackoffSec: 0.2 } },
    });
    try {
      await stage.matchmakerAnswers(60_000);
      const taskId = `t${randomBytes(4).toString("hex")}`;
      await stage.enqueueMany(stage.shellJobs({ taskId, name: "natscluster", count: jobs, sites, script: 'echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"' }));
      for (const site of sites) await stage.spawnPilot(`${site}-p0`, site);
      const tally = await stage.tally(taskId, jobs, 200_000);
      expect(tally).toMatchObject({ notFinished: [], ran: jobs, ranTwice: [], retried: [], taskCounts: { finished: jobs }, taskStatus: "done", waiting: 0, accounted: jobs, repairs: [] });
    } finally {
      await stage.stop();
    }
  }, 300_000);
});
