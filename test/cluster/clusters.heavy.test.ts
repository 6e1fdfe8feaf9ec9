// The clients on clusters: a private 6-node Redis Cluster (3 masters, 3 replicas) and a private
// 3-node NATS cluster (no JetStream), from the installed servers. `wms services check` reports the
// cluster's masters, the Cluster client keeps keys through a failover, and a whole task runs over a
// NATS server list (two matchmakers in one queue group across the nodes). The whole task on all
// three clusters at once, with a master killed, is test/scale/clusters-task.heavy.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDemo, type DemoOutput } from "../../demo/demo-run.ts";
import { loadConfig } from "../../platform/config.ts";
import { openRedis } from "../../platform/connections.ts";
import { initPki } from "../../security/index.ts";
import { startNatsCluster, startRedisCluster, type PrivateNatsCluster, type PrivateRedisCluster } from "../support/private-clusters.ts";
import { runCli } from "../support/run-cli.ts";
import { uniqueNamespace } from "../support/namespace.ts";

const quiet: DemoOutput = { info: () => undefined, progress: () => undefined, done: () => undefined };

let redisCluster: PrivateRedisCluster | undefined;
let natsCluster: PrivateNatsCluster | undefined;
let dir = "";
let configFile = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wms-cluster-test-"));
  [redisCluster, natsCluster] = await Promise.all([startRedisCluster("t"), startNatsCluster("t")]);
  initPki(join(dir, "pki"));
  configFile = join(dir, "wms.yaml");
  const base = loadConfig({ env: {} }).config;
  writeFileSync(
    configFile,
    JSON.stringify({ namespace: uniqueNamespace("cluster"), pki: { dir: join(dir, "pki") }, nats: { url: natsCluster.serverList }, redis: { cluster: { nodes: redisCluster.nodes } }, rabbitmq: { url: base.rabbitmq.url } }),
  );
}, 180_000);

afterAll(async () => {
  await Promise.all([redisCluster?.stop(), natsCluster?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Redis Cluster (3 masters, 3 replicas)", () => {
  it("is formed, and 'wms services check' reports the cluster and the NATS server list up", async () => {
    expect(await redisCluster!.masters()).toHaveLength(3);
    const r = await runCli(["--config", configFile, "services", "check", "--json"], { env: { WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_REDIS_URL: undefined, WMS_NATS_URL: undefined } });
    const out = JSON.parse(r.stdout) as { ok: boolean; services: Array<{ service: string; up: boolean; detail?: string }> };
    expect(out.services.filter((s) => !s.up)).toEqual([]);
    expect(out.services.find((s) => s.service === "redis")?.detail).toBe("3 masters answering, cluster_state ok");
    expect(out.ok).toBe(true);
    expect(r.code).toBe(0);
  }, 60_000);

  it("spreads keys over all three masters through the Cluster client, and keeps them when a master dies and its replica takes over", async () => {
    const cfg = loadConfig({ path: configFile, env: {} }).config;
    const c = openRedis(cfg) as Cluster;
    try {
      const keys = Array.from({ length: 300 }, (_, i) => `probe:${i}`);
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
    } finally {
      c.disconnect();
    }
  }, 120_000);
});

describe("NATS cluster (3 nodes, routes)", () => {
  it("runs a whole task with nats.url the three nodes' server list: every job finished once, two matchmakers in one queue group", async () => {
    const base = loadConfig({ env: { WMS_NATS_URL: natsCluster!.serverList } });
    const summary = await runDemo({ jobs: 40, sites: 4, pilots: 4, matchmakers: 2, timeoutSec: 240, keep: false }, base, quiet, new AbortController().signal);
    expect(summary.jobs).toBe(40);
    expect(summary.finished).toBe(40);
    expect(summary.failed).toBe(0);
    expect(Object.values(summary.bySite).reduce((a, b) => a + b, 0)).toBe(40);
  }, 300_000);
});
