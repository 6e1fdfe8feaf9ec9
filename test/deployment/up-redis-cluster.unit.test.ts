// `wms up` on a folder whose wms.yaml names a Redis Cluster (`redis.cluster.nodes`, README "Running
// on clusters"). It used to check and hand every service the single server of redis.url's default
// (WMS_REDIS_URL=redis://127.0.0.1:6379, which replaces the cluster), so a cluster deployment ran on
// whatever Redis answered there. Every address here is a free port nothing listens on: no service.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { initDeployment } from "../../deployment/init-deployment.ts";
import { readUpState } from "../../deployment/up-state.ts";
import { serviceUrlEnv, sweepLeftovers } from "../../deployment/up.ts";
import { freePort } from "../../platform/local-services.ts";
import { runCli } from "../support/run-cli.ts";

const base = mkdtempSync(path.join(tmpdir(), "wms-up-cluster-"));
const dir = path.join(base, "grid");

afterAll(async () => {
  // Only if the refusal regressed: whatever that `wms up` started.
  const left = readUpState(dir);
  if (left) await sweepLeftovers(dir, left, 2000);
  rmSync(base, { recursive: true, force: true });
});

describe("wms up with a Redis Cluster in wms.yaml", () => {
  it("refuses a cluster that does not answer in one coded line, and starts no server in its place", async () => {
    const { configFile } = initDeployment({ dir, namespace: `upcluster${process.pid}`, monitorPort: 0, matchmakers: 1 });
    const [n, r1, r2, q] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const yaml = readFileSync(configFile, "utf8")
      .replace(/^nats: \{ url: "[^"]*" \}$/m, `nats: { url: "nats://127.0.0.1:${n}" }`)
      .replace(/^redis: \{ url: "[^"]*" \}$/m, `redis: { cluster: { nodes: ["redis://127.0.0.1:${r1}", "redis://127.0.0.1:${r2}"] } }`)
      .replace(/^rabbitmq: \{ url: "[^"]*" \}$/m, `rabbitmq: { url: "amqp://127.0.0.1:${q}" }`);
    expect(yaml).toContain("cluster: { nodes:");
    writeFileSync(configFile, yaml);

    const env = { WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_NATS_URL: undefined, WMS_REDIS_URL: undefined, WMS_RABBITMQ_URL: undefined };
    const res = await runCli(["up"], { cwd: dir, env, timeoutMs: 90_000 });

    expect(res.code).toBe(1);
    const lines = res.stderr.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^wms: error E1003 SERVICE_UNAVAILABLE: .*the Redis Cluster in the config \\(cluster redis://127\\.0\\.0\\.1:${r1},redis://127\\.0\\.0\\.1:${r2}\\) does not answer: .*nothing was started$`));
    // Not the hint other commands get ("'wms up' does not run ... 'wms up --detach' starts it").
    expect(lines[0]).not.toContain("'wms up' does not run");
    expect(res.stdout).toMatch(/start failed/);
    expect(res.stdout).not.toMatch(/starting a private/);
    expect(readUpState(dir)).toBeUndefined();
    expect(existsSync(path.join(dir, ".wms", "up", "state.json"))).toBe(false);
  }, 120_000);

  it("leaves the services on wms.yaml's cluster: no WMS_REDIS_URL, which would replace it with one server", () => {
    const urls = { nats: "nats://127.0.0.1:4222", redis: "redis://127.0.0.1:7001,redis://127.0.0.1:7002", rabbitmq: "amqp://127.0.0.1:5672" };
    expect(serviceUrlEnv(urls, true)).toEqual({ WMS_NATS_URL: urls.nats, WMS_REDIS_URL: undefined, WMS_RABBITMQ_URL: urls.rabbitmq });
    // One server (wms.yaml's, or a private one started in its place) is handed on as before.
    expect(serviceUrlEnv({ ...urls, redis: "redis://127.0.0.1:41234" }, false).WMS_REDIS_URL).toBe("redis://127.0.0.1:41234");
  });
});
