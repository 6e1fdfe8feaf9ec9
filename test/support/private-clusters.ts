// Private clusters from the installed servers, for cluster tests: a Redis Cluster of six
// redis-server processes (`--cluster-enabled yes`, then `redis-cli --cluster create
// --cluster-replicas 1`: three masters, each with a replica) and a NATS cluster of three
// nats-server processes with routes (JetStream on request: nothing in pilot-wms uses it yet). Each server runs in a temp folder on free
// ports, and is stopped by its own PID (process group) at the end. The shared loopback services
// are never touched. A RabbitMQ cluster is in private-rabbit-cluster.ts.
// In a run with authentication on (runServerAuth) every node takes the run's users, so the roles'
// identities log in there as on the run's servers and nothing anonymous does:
// - Redis: each node loads the run's ACL file plus one admin user of the cluster's own (the
//   operator's, no wms role): replicas authenticate to their master with it (masteruser/masterauth),
//   `redis-cli --cluster create` and the helpers' CLUSTER NODES use it. The cluster bus itself has
//   no authentication in Redis; it listens on loopback only.
// - NATS: each node loads the run's users and requires TLS for clients with the run's certificate
//   (and the handshake timeout of the run's single NATS, natsTlsBlock); the routes between nodes
//   stay unauthenticated and plain, on loopback only.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { launchProcessGroup, natsTlsBlock, type LaunchedProcess } from "../../platform/local-services.ts";
import { redisPasswordHash } from "../../security/index.ts";
import { runServerAuth } from "./test-roles.ts";

/** Stops every server of a cluster at once and deletes its temp folder. */
async function stopAll(procs: LaunchedProcess[], root: string): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
  rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
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
  /**
   * A command sent to one node as the cluster's operator (its admin user under authentication):
   * what a test inspects (CLUSTER NODES, CLUSTER KEYSLOT) but no wms role may run.
   */
  adminCall(port: number, ...args: string[]): Promise<unknown>;
  /**
   * Moves one slot to the master on `toPort` as `redis-cli --cluster reshard` does (IMPORTING on
   * the target, MIGRATING on the source, MIGRATE key by key, then SETSLOT NODE everywhere), one key
   * every `pauseMs` so clients meet the ASK and TRYAGAIN window; resolves with the keys moved.
   */
  moveSlot(slot: number, toPort: number, pauseMs: number): Promise<number>;
  stop(): Promise<void>;
}

/** Six redis-server nodes joined into a cluster of three masters with one replica each. */
export async function startRedisCluster(label: string): Promise<PrivateRedisCluster> {
  const root = mkdtempSync(join(tmpdir(), `wms-rcluster-${label}-`));
  const taken = new Set<number>();
  const procs: LaunchedProcess[] = [];
  const ports: number[] = [];
  const auth = runServerAuth();
  const admin = auth ? { user: "cluster-admin", pass: randomBytes(24).toString("hex") } : undefined;
  const aclFile = join(root, "users.acl");
  if (auth && admin) writeFileSync(aclFile, `${readFileSync(auth.redisAclFile, "utf8").trimEnd()}\nuser ${admin.user} on #${redisPasswordHash(admin.pass)} ~* &* +@all\n`, { mode: 0o600 });
  const nodeAuth = admin ? ["--aclfile", aclFile, "--masteruser", admin.user, "--masterauth", admin.pass] : [];
  const cliAuth = admin ? ["--user", admin.user, "--pass", admin.pass, "--no-auth-warning"] : [];
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freePortPair(10_000, taken);
      const dir = join(root, String(port));
      mkdirSync(dir);
      ports.push(port);
      procs.push(
        launchProcessGroup("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"), "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no", ...nodeAuth]),
      );
    }
    for (const port of ports) {
      await until(`redis-server on ${port} did not answer`, async () => {
        const r = spawnSync("redis-cli", ["-p", String(port), ...cliAuth, "ping"], { encoding: "utf8" });
        return r.stdout.trim() === "PONG" ? true : undefined;
      }, 15_000);
    }
    const create = spawnSync("redis-cli", [...cliAuth, "--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "1", "--cluster-yes"], { encoding: "utf8", timeout: 60_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    const adminCall = async (port: number, ...args: string[]): Promise<unknown> => {
      const r = new Redis({ port, host: "127.0.0.1", ...(admin ? { username: admin.user, password: admin.pass } : {}), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await r.connect();
        return await r.call(args[0], ...args.slice(1));
      } finally {
        r.disconnect();
      }
    };
    const info = async (port: number, section: string): Promise<string> => (await adminCall(port, "CLUSTER", section)) as string;
    const alive = (): number[] => ports.filter((_, i) => procs[i].child.exitCode === null && procs[i].child.signalCode === null);
    for (const port of ports) await until(`cluster_state of ${port} did not become ok`, async () => ((await info(port, "INFO")).includes("cluster_state:ok") ? true : undefined), 30_000);
    // And every replica synced with its master: until then a write is on the master only (and a
    // WAIT for a replica runs into its timeout).
    const onlineReplicas = (port: number): number => (spawnSync("redis-cli", ["-p", String(port), ...cliAuth, "info", "replication"], { encoding: "utf8" }).stdout.match(/^slave\d+:.*state=online/gm) ?? []).length;
    await until("the replicas did not sync", async () => (ports.map(onlineReplicas).reduce((a, b) => a + b, 0) === 3 ? true : undefined), 30_000);
    return {
      nodes: ports.map((p) => `redis://127.0.0.1:${p}`),
      servers: ports.map((port, i) => ({ port, pid: procs[i].child.pid, kill: () => procs[i].stop("SIGKILL") })),
      adminCall,
      async masters() {
        const text = await info(alive()[0], "NODES");
        // `<id> <ip:port@bus> <flags> ...`, flags such as `myself,master` or `master,fail`.
        return text
          .split("\n")
          .map((l) => l.split(" "))
          .filter((f) => f.length > 2 && f[2].split(",").includes("master") && !f[2].split(",").includes("fail"))
          .map((f) => Number(/:(\d+)@/.exec(f[1])?.[1]));
      },
      async moveSlot(slot, toPort, pauseMs) {
        const rows = (await info(alive()[0], "NODES")).trim().split("\n").map((l) => l.split(" "));
        const port = (f: string[]): number => Number(/:(\d+)@/.exec(f[1])?.[1]);
        const masters = rows.filter((f) => f[2].split(",").includes("master") && !f[2].split(",").includes("fail"));
        const from = masters.find((f) => f.slice(8).some((r) => {
          const [a, b] = r.split("-").map(Number);
          return slot >= a && slot <= (b ?? a);
        }));
        const to = masters.find((f) => port(f) === toPort);
        if (!from || !to || from === to) throw new Error(`slot ${slot}: no move to ${toPort} (from ${from ? port(from) : "nobody"})`);
        await adminCall(toPort, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", from[0]);
        await adminCall(port(from), "CLUSTER", "SETSLOT", String(slot), "MIGRATING", to[0]);
        let moved = 0;
        for (;;) {
          const keys = (await adminCall(port(from), "CLUSTER", "GETKEYSINSLOT", String(slot), "1")) as string[];
          if (keys.length === 0) break;
          await adminCall(port(from), "MIGRATE", "127.0.0.1", String(toPort), "", "0", "5000", ...(admin ? ["AUTH2", admin.user, admin.pass] : []), "KEYS", ...keys);
          moved += keys.length;
          await new Promise((r) => setTimeout(r, pauseMs));
        }
        // The target first, then the source, then the others (they would learn it by gossip).
        for (const p of [toPort, port(from), ...masters.map(port).filter((p) => p !== toPort && p !== port(from))]) {
          await adminCall(p, "CLUSTER", "SETSLOT", String(slot), "NODE", to[0]);
        }
        return moved;
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
  /** Kills node `i` only (SIGKILL: a crash; its clients' sockets close and they move to the nodes left). */
  kill(i: number): Promise<void>;
  stop(): Promise<void>;
}

/** Three nats-server nodes routed to each other in one named cluster; with `jetStream`, each runs JetStream too. */
export async function startNatsCluster(label: string, o: { jetStream?: boolean } = {}): Promise<PrivateNatsCluster> {
  const root = mkdtempSync(join(tmpdir(), `wms-ncluster-${label}-`));
  const taken = new Set<number>();
  const procs: LaunchedProcess[] = [];
  const auth = runServerAuth();
  try {
    const client: number[] = [];
    const route: number[] = [];
    const monitor: number[] = [];
    for (let i = 0; i < 3; i++) {
      client.push(await freePortPair(0, taken));
      route.push(await freePortPair(0, taken));
      monitor.push(await freePortPair(0, taken));
    }
    const routes = route.map((p) => `nats://127.0.0.1:${p}`).join(",");
    for (let i = 0; i < 3; i++) {
      const dir = join(root, `n${i}`);
      mkdirSync(dir);
      let authArgs: string[] = [];
      if (auth) {
        // Copied, not included: nats-server resolves an include relative to the including file. TLS
        // as the run's single NATS has it, with its handshake timeout for a loaded machine.
        const conf = join(dir, "nats-server.conf");
        writeFileSync(conf, `${readFileSync(auth.natsConfig, "utf8")}\n${natsTlsBlock(auth.tls)}`, { mode: 0o600 });
        authArgs = ["-c", conf];
      }
      procs.push(
        launchProcessGroup("nats-server", ["-a", "127.0.0.1", "-p", String(client[i]), "-m", String(monitor[i]), "-n", `${label}-n${i}`, "--cluster_name", `wms-${label}`, "-cluster", `nats://127.0.0.1:${route[i]}`, "-routes", routes, ...(o.jetStream ? ["-js", "-sd", dir] : []), ...authArgs]),
      );
    }
    const urls = client.map((p) => `${auth ? "tls" : "nats"}://127.0.0.1:${p}`);
    // Up when every node has its routes to the other two and, with JetStream, the meta group elected
    // a leader: read from the monitoring port, which needs no client identity.
    const monitorJson = async (i: number, path: string): Promise<Record<string, unknown>> => (await (await fetch(`http://127.0.0.1:${monitor[i]}${path}`, { signal: AbortSignal.timeout(1000) })).json()) as Record<string, unknown>;
    await until(
      "the NATS cluster did not form",
      async () => {
        for (let i = 0; i < 3; i++) if (Number((await monitorJson(i, "/routez")).num_routes ?? 0) < 2) return undefined;
        if (o.jetStream) {
          const meta = (await monitorJson(0, "/jsz")).meta_cluster as { leader?: string } | undefined;
          if (!meta?.leader) return undefined;
        }
        return true;
      },
      60_000,
    );
    return {
      urls,
      serverList: urls.join(","),
      kill: (i) => procs[i].stop("SIGKILL"),
      async stop() {
        await stopAll(procs, root);
      },
    };
  } catch (e) {
    await stopAll(procs, root);
    throw e;
  }
}
