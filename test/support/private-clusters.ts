// Private clusters from the installed servers, for cluster tests: a Redis Cluster of six
// redis-server processes (`--cluster-enabled yes`, then `redis-cli --cluster create
// --cluster-replicas 1`: three masters, each with a replica) and a NATS cluster of three
// nats-server processes with routes (JetStream on request: nothing in pilot-wms uses it yet). Each server runs in a temp folder on free
// ports, and is stopped by its own PID (process group) at the end. The shared loopback services
// are never touched. A RabbitMQ cluster is in private-rabbit-cluster.ts.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { Redis } from "ioredis";
import { launchProcessGroup, type LaunchedProcess } from "../../platform/local-services.ts";

/** Stops every server of a cluster at once and deletes its temp folder. */
async function stopAll(procs: LaunchedProcess[], root: string): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
  rmSync(root, { recursive: true, force: true });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A free port whose `+ offset` companion is free too (Redis Cluster's bus listens on port + 10000). */
export async function freePortPair(offset: number, taken: Set<number>): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (taken.has(port) || taken.has(port + offset)) continue;
    if ((await portFree(port)) && (offset === 0 || (await portFree(port + offset)))) {
      taken.add(port).add(port + offset);
      return port;
    }
  }
  throw new Error("no free port pair found");
}

/** Polls `f` every 200 ms until it returns a value; throws `what` (with the last error) on timeout. */
export async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const r = await f();
      if (r !== undefined) return r;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ""}`);
}

export interface RedisClusterNode {
  readonly port: number;
  readonly pid: number | undefined;
  /** Kills this node only (SIGKILL: a crash, so its replica is promoted). */
  kill(): Promise<void>;
}

export interface PrivateRedisCluster {
  /** `redis://127.0.0.1:<port>` of every node: the seeds for `redis.cluster.nodes`. */
  readonly nodes: readonly string[];
  readonly servers: readonly RedisClusterNode[];
  /** Ports of the nodes that are masters now (CLUSTER NODES as seen by a live node). */
  masters(): Promise<number[]>;
  stop(): Promise<void>;
}

/** Six redis-server nodes joined into a cluster of three masters with one replica each. */
export async function startRedisCluster(label: string): Promise<PrivateRedisCluster> {
  const root = mkdtempSync(join(tmpdir(), `wms-rcluster-${label}-`));
  const taken = new Set<number>();
  const procs: LaunchedProcess[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freePortPair(10_000, taken);
      const dir = join(root, String(port));
      mkdirSync(dir);
      ports.push(port);
      procs.push(
        launchProcessGroup("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"), "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no"]),
      );
    }
    for (const port of ports) {
      await until(`redis-server on ${port} did not answer`, async () => {
        const r = spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" });
        return r.stdout.trim() === "PONG" ? true : undefined;
      }, 15_000);
    }
    const create = spawnSync("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "1", "--cluster-yes"], { encoding: "utf8", timeout: 60_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    const info = async (port: number, section: string): Promise<string> => {
      const r = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await r.connect();
        return (await r.call("CLUSTER", section)) as string;
      } finally {
        r.disconnect();
      }
    };
    const alive = (): number[] => ports.filter((_, i) => procs[i].child.exitCode === null && procs[i].child.signalCode === null);
    for (const port of ports) await until(`cluster_state of ${port} did not become ok`, async () => ((await info(port, "INFO")).includes("cluster_state:ok") ? true : undefined), 30_000);
    return {
      nodes: ports.map((p) => `redis://127.0.0.1:${p}`),
      servers: ports.map((port, i) => ({ port, pid: procs[i].child.pid, kill: () => procs[i].stop("SIGKILL") })),
      async masters() {
        const text = await info(alive()[0], "NODES");
        // `<id> <ip:port@bus> <flags> ...`, flags such as `myself,master` or `master,fail`.
        return text
          .split("\n")
          .map((l) => l.split(" "))
          .filter((f) => f.length > 2 && f[2].split(",").includes("master") && !f[2].split(",").includes("fail"))
          .map((f) => Number(/:(\d+)@/.exec(f[1])?.[1]));
      },
      async stop() {
        await stopAll(procs, root);
      },
    };
  } catch (e) {
    await stopAll(procs, root);
    throw e;
  }
}

export interface PrivateNatsCluster {
  /** Client URL of each node, `nats://127.0.0.1:<port>`. */
  readonly urls: readonly string[];
  /** The three URLs as one comma-separated server list (`nats.url` of a cluster). */
  readonly serverList: string;
  stop(): Promise<void>;
}

/** Three nats-server nodes routed to each other in one named cluster; with `jetStream`, each runs JetStream too. */
export async function startNatsCluster(label: string, o: { jetStream?: boolean } = {}): Promise<PrivateNatsCluster> {
  const root = mkdtempSync(join(tmpdir(), `wms-ncluster-${label}-`));
  const taken = new Set<number>();
  const procs: LaunchedProcess[] = [];
  try {
    const client: number[] = [];
    const route: number[] = [];
    for (let i = 0; i < 3; i++) {
      client.push(await freePortPair(0, taken));
      route.push(await freePortPair(0, taken));
    }
    const routes = route.map((p) => `nats://127.0.0.1:${p}`).join(",");
    for (let i = 0; i < 3; i++) {
      const dir = join(root, `n${i}`);
      mkdirSync(dir);
      procs.push(
        launchProcessGroup("nats-server", ["-a", "127.0.0.1", "-p", String(client[i]), "-n", `${label}-n${i}`, "--cluster_name", `wms-${label}`, "-cluster", `nats://127.0.0.1:${route[i]}`, "-routes", routes, ...(o.jetStream ? ["-js", "-sd", dir] : [])]),
      );
    }
    const urls = client.map((p) => `nats://127.0.0.1:${p}`);
    // Up when a message published on the last node reaches a subscriber on the first (routes formed)
    // and, with JetStream, it answers (its meta group elected a leader).
    await until(
      "the NATS cluster did not form",
      async () => {
        const a = await connect({ servers: urls[0], timeout: 1000 });
        const c = await connect({ servers: urls[2], timeout: 1000 });
        try {
          const sub = a.subscribe("cluster.probe", { max: 1, timeout: 500 });
          await a.flush();
          c.publish("cluster.probe");
          await c.flush();
          for await (const _m of sub) break;
          if (o.jetStream) await (await a.jetstreamManager({ timeout: 1000 })).getAccountInfo();
          return true;
        } finally {
          await a.close();
          await c.close();
        }
      },
      60_000,
    );
    return {
      urls,
      serverList: urls.join(","),
      async stop() {
        await stopAll(procs, root);
      },
    };
  } catch (e) {
    await stopAll(procs, root);
    throw e;
  }
}
