// A Redis Cluster that answers but refuses the login is a different fix from one that does not
// answer: check the identity, not start a server. ioredis's Cluster client reports both as "None of
// startup nodes is available", so `wms services check` told an operator whose cluster admits only
// the users of `wms secrets init` that it was down, and to start a single redis-server on 6379.
// The cluster here is one private redis-server with cluster mode on, holding every slot (enough for
// CLUSTER INFO to say ok; its address announced, as a node that never met another knows none) and a
// password of its own, started and stopped by this file in either
// test mode; the run's servers are only named for the other two checks.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, isWmsError } from "../../schemas/index.ts";
import { ensureServices, freePort, launchProcessGroup, type LaunchedProcess } from "../../platform/local-services.ts";
import { freePortPair, until } from "../support/private-clusters.ts";
import { runCli } from "../support/run-cli.ts";

interface Check {
  readonly service: string;
  readonly up: boolean;
  readonly state: string;
  readonly code?: number;
  readonly detail?: string;
  readonly howToStart?: string;
}

let dir: string;
let server: LaunchedProcess | undefined;
let port: number;
// One node with every slot that never met another and announces no address: CLUSTER SLOTS gives
// an empty host, which ioredis's Cluster client neither connects to nor fails on.
let unannounced: LaunchedProcess | undefined;
let unannouncedPort: number;
const password = randomBytes(16).toString("hex");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wms-rcluster-login-"));
  port = await freePortPair(10_000, new Set());
  server = launchProcessGroup("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--cluster-enabled", "yes", "--cluster-announce-ip", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass", password]);
  const cli = (...args: string[]): string => spawnSync("redis-cli", ["-p", String(port), "--no-auth-warning", "-a", password, ...args], { encoding: "utf8" }).stdout;
  await until(`redis-server on ${port} did not answer`, async () => (cli("ping").trim() === "PONG" ? true : undefined), 15_000);
  cli("cluster", "addslotsrange", "0", "16383");
  await until("the one-node cluster did not become ok", async () => (cli("cluster", "info").includes("cluster_state:ok") ? true : undefined), 30_000);
  unannouncedPort = await freePortPair(10_000, new Set([port, port + 10_000]));
  mkdirSync(join(dir, "unannounced"));
  unannounced = launchProcessGroup("redis-server", ["--port", String(unannouncedPort), "--bind", "127.0.0.1", "--dir", join(dir, "unannounced"), "--cluster-enabled", "yes", "--save", "", "--appendonly", "no", "--requirepass", password]);
  const cli2 = (...args: string[]): string => spawnSync("redis-cli", ["-p", String(unannouncedPort), "--no-auth-warning", "-a", password, ...args], { encoding: "utf8" }).stdout;
  await until(`redis-server on ${unannouncedPort} did not answer`, async () => (cli2("ping").trim() === "PONG" ? true : undefined), 15_000);
  cli2("cluster", "addslotsrange", "0", "16383");
  await until("the unannounced cluster did not become ok", async () => (cli2("cluster", "info").includes("cluster_state:ok") ? true : undefined), 30_000);
});

afterAll(async () => {
  await Promise.all([server?.stop(), unannounced?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** `wms services check --json` with a wms.yaml naming the cluster (and `redis` settings added); the redis entry. */
async function checkCluster(nodes: string[], redisExtra: Record<string, string> = {}): Promise<{ code: number; redis: Check; stderr: string }> {
  const config = join(dir, `wms-${randomBytes(4).toString("hex")}.yaml`);
  writeFileSync(config, JSON.stringify({ namespace: "wms-cluster-login", redis: { cluster: { nodes }, ...redisExtra } }));
  // A URL in the environment names one server and would replace the cluster; no role's identity
  // either (its Redis user is not this server's).
  const r = await runCli(["services", "check", "--json", "--config", config], { env: { WMS_REDIS_URL: "", WMS_IDENTITY_FILE: "" } });
  if (!r.stdout) throw new Error(`no JSON (exit ${r.code}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { services: Check[] };
  return { code: r.code, redis: out.services.find((s) => s.service === "redis") as Check, stderr: r.stderr };
}

describe("wms services check on a Redis Cluster", () => {
  it("reports the cluster up with its password: the fixture is a working cluster", async () => {
    const { redis } = await checkCluster([`redis://127.0.0.1:${port}`], { password });
    // A one-node fixture: up, and told that its master has no replica (services check says so since a failover can leave one so).
    expect(redis).toMatchObject({ up: true, state: "up", detail: `1 master answering, cluster_state ok; no replica for master 127.0.0.1:${port}` });
  });

  it("says a cluster that refuses the login refused the credentials (E1012), with the identity to check, not a server to start", async () => {
    const anonymous = await checkCluster([`redis://127.0.0.1:${port}`]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.redis).toMatchObject({ up: false, state: "auth-failed", code: ERR.SERVICE_AUTH_FAILED });
    expect(anonymous.redis.howToStart).toMatch(/^check redis\.username and redis\.password/);
    const wrong = await checkCluster([`redis://127.0.0.1:${port}`], { username: "default", password: "not-the-password" });
    expect(wrong.redis).toMatchObject({ state: "auth-failed", code: ERR.SERVICE_AUTH_FAILED });
  });

  it("says a cluster that does not answer is down (E1003) and to start its nodes, not one server on 6379", async () => {
    const dead = await checkCluster([`redis://127.0.0.1:${await freePort()}`]);
    expect(dead.redis).toMatchObject({ up: false, state: "down", code: ERR.SERVICE_UNAVAILABLE });
    expect(dead.redis.howToStart).toMatch(/^redis-server --cluster-enabled yes on each node .*redis-cli --cluster create/);
    expect(dead.redis.howToStart).not.toContain("6379");
  });

  it("ends a check of a cluster it cannot connect to with E1003 and a line, not silently (exit 13)", async () => {
    const r = await checkCluster([`redis://127.0.0.1:${unannouncedPort}`], { password });
    expect(r.code).toBe(1);
    expect(r.redis).toMatchObject({ up: false, state: "down", code: ERR.SERVICE_UNAVAILABLE });
    expect(r.redis).toHaveProperty("error", expect.stringMatching(/^no connection to the cluster's nodes within \d+ ms \(do the nodes announce an address this machine reaches\?/));
  });

  it("makes 'wms up' stop with E1012 on a cluster that refuses the login, starting nothing", async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    const err = await ensureServices({ nats: `nats://${nowhere}`, redis: "redis://unused", rabbitmq: `amqp://${nowhere}` }, join(dir, "up"), undefined, { redisCluster: { url: "", cluster: { nodes: [`redis://127.0.0.1:${port}`], claimReplicaWaitMs: 0 } } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isWmsError(err) && err.code).toBe(ERR.SERVICE_AUTH_FAILED);
    expect(String((err as Error).message)).toMatch(/the Redis Cluster in the config \(cluster redis:\/\/127\.0\.0\.1:\d+\) answers but refused our login \(credentials refused: NOAUTH.*\); check redis\.username .*; nothing was started/);
  });
});
