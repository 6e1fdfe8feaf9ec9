import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as natsConnect } from "nats";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { ERR, isWmsError, type ErrorCode, type WmsConfig } from "../schemas/index.ts";
import { isNatsAuthRefusal, isRabbitAuthRefusal, isRedisAuthRefusal, natsConnectOptions, probeRabbitNodes, redisConnectOptions } from "./connections.ts";
import { describeTarget, redisTarget } from "./service-targets.ts";
import { clusterNodeAsSingleServer } from "./single-server-redis.ts";

export type ServiceName = "nats" | "redis" | "rabbitmq";

export interface ServiceStatus {
  readonly service: ServiceName;
  readonly url: string;
  readonly up: boolean;
  /** up; down (nothing answers); auth-failed (it answers but refuses our identity); bad-config. */
  readonly state: "up" | "down" | "auth-failed" | "bad-config";
  /** The registry code of a failure: 1003 down, 1012 credentials refused, 1002 bad settings. */
  readonly code?: ErrorCode;
  readonly latencyMs?: number;
  /** What the probe found besides an answer: for a NATS or RabbitMQ URL list, which nodes answer (on a refusal too); for a Redis Cluster, its masters and cluster_state. */
  readonly detail?: string;
  readonly error?: string;
  /** What to do: how to start it on a Debian machine when down, which identity to fix when refused. */
  readonly howToStart?: string;
}
const DEFAULT_PORTS: Record<ServiceName, number> = { nats: 4222, redis: 6379, rabbitmq: 5672 };

/** Where a hint's server keeps what is its own (pid file, log, data): one name per service and port. */
function hintPath(under: string, service: ServiceName, port: number, what: string): string {
  return join(under, `wms-${service}-${port}${what}`);
}

/**
 * How to start a service on this (Debian) machine at the port the config names: a hint for
 * `nats://127.0.0.1:14222` that starts a server on 4222 would leave the check failing. Each is a
 * server of its own beside any the machine already runs: its own pid file (start-stop-daemon
 * --exec alone finds any running nats-server "already running" and starts nothing; a daemonized
 * redis-server without --pidfile takes /var/run/redis.pid from the one already there) and, for
 * RabbitMQ on another port, its own node name, data folder and configuration file (the machine's
 * /etc/rabbitmq/rabbitmq.conf may name listeners of its own, 5672 included, and the node would
 * stop at boot on that port being taken), as RabbitMQ's configuration guide describes
 * (RABBITMQ_CONFIG_FILE, RABBITMQ_NODENAME, RABBITMQ_MNESIA_BASE). The compose file publishes the
 * default ports only, so it is offered for those.
 */
export function startCommand(service: ServiceName, port: number = DEFAULT_PORTS[service], under: string = tmpdir()): string {
  const compose = port === DEFAULT_PORTS[service] ? `   (or: docker compose up -d ${service})` : "";
  if (service === "nats") {
    return `start-stop-daemon --start --oknodo --background --make-pidfile --pidfile ${hintPath(under, service, port, ".pid")} --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p ${port} -l ${hintPath(under, service, port, ".log")}${compose}`;
  }
  if (service === "redis") return `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port ${port} --save "" --appendonly no --pidfile ${hintPath(under, service, port, ".pid")}${compose}`;
  if (port === DEFAULT_PORTS.rabbitmq) return `rabbitmq-server -detached${compose}`;
  const dir = hintPath(under, service, port, "");
  // The distribution port defaults to the AMQP port + 20000, past 65535 for a port above 45535.
  const dist = port + 20000 > 65535 ? ` RABBITMQ_DIST_PORT=${port - 20000}` : "";
  return (
    `RABBITMQ_NODENAME=wms${port}@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=${port}${dist} ` +
    `RABBITMQ_CONFIG_FILE=${dir}/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=${dir}/enabled_plugins RABBITMQ_MNESIA_BASE=${dir}/mnesia RABBITMQ_LOG_BASE=${dir}/log ` +
    `rabbitmq-server -detached`
  );
}

/** The port of the first server a (redacted, maybe comma-separated) URL names; undefined for a cluster's description. */
function firstPort(url: string): number | undefined {
  const m = /^[a-z]+:\/\/[^,/]*:(\d+)/.exec(url);
  return m ? Number(m[1]) : undefined;
}

/** The server answered and refused who we are: a different fix from starting it. */
function isAuthRefusal(service: ServiceName, e: unknown): boolean {
  if (service === "nats") return isNatsAuthRefusal(e);
  if (service === "redis") return isRedisAuthRefusal(e);
  return isRabbitAuthRefusal(e);
}

const AUTH_HINT: Record<ServiceName, string> = {
  nats: "check nats.user/password(File), nats.nkeySeedFile or nats.credsFile (or WMS_IDENTITY_FILE) against the server's users (`wms secrets init` writes both)",
  redis: "check redis.username and redis.password(File) (or WMS_IDENTITY_FILE) against the server's ACL file",
  rabbitmq: "check rabbitmq.username and rabbitmq.password(File) (or WMS_IDENTITY_FILE) against the broker's users",
};

/**
 * What to do about a Redis Cluster that does not answer (after "start it with:"): start its nodes. A single server's start
 * command (on 6379, as a cluster's description names no one port) would not stand in for it.
 */
const REDIS_CLUSTER_DOWN_HINT = "redis-server --cluster-enabled yes on each node (a folder each), joined once by redis-cli --cluster create; a single server does not stand in for a cluster (deploy/README.md, \"Clusters without Docker\")";

/** On a refusal thrown by someNodesAnswer: the nodes of the list that did not answer at all, for the status to name. */
const NOT_ANSWERING = Symbol("notAnswering");

function notAnsweringOf(e: unknown): string | undefined {
  return typeof e === "object" && e !== null ? (e as { [NOT_ANSWERING]?: string })[NOT_ANSWERING] : undefined;
}

async function timed(service: ServiceName, url: string, probe: () => Promise<string | void>, downHint?: string): Promise<ServiceStatus> {
  const t0 = performance.now();
  const elapsed = (): number => Math.round((performance.now() - t0) * 10) / 10;
  try {
    const detail = await probe();
    return { service, url, up: true, state: "up", latencyMs: elapsed(), ...(detail ? { detail } : {}) };
  } catch (e) {
    const msg = (isWmsError(e) ? e.detail : e instanceof Error ? e.message || e.name : String(e)).split("\n")[0];
    if (isWmsError(e) && e.code === ERR.BAD_CONFIG) return { service, url, up: false, state: "bad-config", code: ERR.BAD_CONFIG, error: msg };
    if ((isWmsError(e) && e.code === ERR.SERVICE_AUTH_FAILED) || isAuthRefusal(service, e)) {
      // It answered, with a refusal: how long that took is its latency.
      const detail = notAnsweringOf(e);
      return { service, url, up: false, state: "auth-failed", code: ERR.SERVICE_AUTH_FAILED, latencyMs: elapsed(), ...(detail ? { detail } : {}), error: `credentials refused: ${msg}`, howToStart: AUTH_HINT[service] };
    }
    return { service, url, up: false, state: "down", code: ERR.SERVICE_UNAVAILABLE, error: msg, howToStart: downHint ?? startCommand(service, firstPort(url)) };
  }
}

type Section<K extends ServiceName> = K extends "nats" ? WmsConfig["nats"] : K extends "redis" ? WmsConfig["redis"] : WmsConfig["rabbitmq"];

/** Accepts a bare URL (the old form, anonymous or with credentials in it) or the config section. */
function section<K extends ServiceName>(v: string | Section<K>): Section<K> {
  return (typeof v === "string" ? { url: v } : v) as Section<K>;
}

function safeDescribe(kind: ServiceName, v: WmsConfig["nats"] | WmsConfig["redis"] | WmsConfig["rabbitmq"]): string {
  try {
    return describeTarget(kind, { [kind]: v } as unknown as WmsConfig);
  } catch {
    return "(invalid)";
  }
}

export async function checkNats(target: string | WmsConfig["nats"], timeoutMs = 2000): Promise<ServiceStatus> {
  const nats = section<"nats">(target);
  return timed("nats", safeDescribe("nats", nats), async () => {
    const options = natsConnectOptions(nats, "wms-services-check");
    const servers = [options.servers ?? []].flat();
    // Every server of the list on its own, as for RabbitMQ: a client connects to any that answers
    // and the cluster's gossip hides the rest, so a node that is down stayed unnoticed here.
    const probes = await Promise.all(
      servers.map(async (server) => {
        try {
          const nc = await natsConnect({ ...options, servers: [server], timeout: timeoutMs, reconnect: false, maxReconnectAttempts: 0 });
          try {
            await nc.flush();
          } finally {
            await nc.close();
          }
          return { url: server };
        } catch (e) {
          return { url: server, error: e };
        }
      }),
    );
    return someNodesAnswer(probes, (e) => isNatsAuthRefusal(e));
  });
}

/**
 * Up while one node of a list answers (clients fail over to it); the detail then names the nodes
 * that do not. A refused login anywhere is the identity's fault (every node shares the users): it
 * is thrown, carrying the nodes that did not answer for the status to name as well.
 */
function someNodesAnswer(nodes: ReadonlyArray<{ url: string; error?: unknown }>, isRefusal: (e: unknown) => boolean): string | undefined {
  const failed = nodes.filter((n) => n.error !== undefined);
  const why = (e: unknown): string => (isWmsError(e) ? e.detail : e instanceof Error ? e.message || e.name : String(e)).split("\n")[0];
  const silent = failed.filter((n) => !isRefusal(n.error));
  const notAnswering = silent.length ? `not answering: ${silent.map((n) => `${n.url} (${why(n.error)})`).join(", ")}` : undefined;
  const refused = failed.find((n) => isRefusal(n.error));
  // A node that refuses the login answers.
  const answering = notAnswering && `${nodes.length - silent.length} of ${nodes.length} nodes answer; ${notAnswering}`;
  if (refused) throw Object.assign(refused.error instanceof Error ? refused.error : new Error(String(refused.error)), { [NOT_ANSWERING]: answering });
  // None answers: each node's reason, not only the last one's (a node that is down and two that
  // were only slow to answer look alike otherwise).
  if (failed.length === nodes.length) throw nodes.length === 1 ? failed[0].error : new Error(`none of the ${nodes.length} nodes answers: ${failed.map((n) => `${n.url} (${why(n.error)})`).join(", ")}`);
  if (nodes.length === 1) return undefined;
  return answering ?? `all ${nodes.length} nodes answer`;
}

export async function checkRedis(target: string | WmsConfig["redis"], timeoutMs = 2000): Promise<ServiceStatus> {
  const redis = section<"redis">(target);
  return timed("redis", safeDescribe("redis", redis), async () => {
    const t = redisTarget(redis);
    const common = { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false };
    // Each seed node on its own first, as for NATS and RabbitMQ: the Cluster client needs only one
    // of them, so a dead node (a crashed master whose replica took over) went unnamed.
    const seeds = t.cluster ? await Promise.all(t.nodes.map((n) => probeSeed(n, { ...redisConnectOptions(redis), ...common }, timeoutMs))) : [];
    const r: Redis | Cluster = t.cluster
      ? new Cluster(t.nodes, { lazyConnect: true, enableOfflineQueue: false, clusterRetryStrategy: () => null, redisOptions: { ...redisConnectOptions(redis), ...common } })
      : new Redis({ host: t.nodes[0].host, port: t.nodes[0].port, ...redisConnectOptions(redis), ...common });
    // ioredis reports a refused AUTH as a generic connect failure ("None of startup nodes is
    // available" from a Cluster, whose own "error" only says the slots could not be read); the
    // node's reply (NOAUTH, WRONGPASS) comes as an "error" event, or a Cluster's "node error".
    let refusal: unknown = seeds.find((x) => x.error !== undefined && isAuthRefusal("redis", x.error))?.error;
    const noteRefusal = (e: unknown): void => {
      if (isAuthRefusal("redis", e)) refusal = e;
    };
    r.on("error", noteRefusal);
    if (r instanceof Cluster) r.on("node error", noteRefusal);
    try {
      try {
        // A seed that answers tells a cluster without a live master for some slots (a master died
        // and its replica is not promoted yet: cluster-node-timeout and an election) from one whose
        // nodes cannot be reached; the Cluster client would only time out on either.
        const failing = seeds.find((x) => x.state !== undefined && x.state !== "ok");
        if (failing && refusal === undefined) throw new Error(`cluster_state:${failing.state} (slots without a live master: a replica takes over after cluster-node-timeout and an election)${notAnsweringSeeds(seeds)}`);
        // Bounded: ioredis's Cluster client neither connects nor fails when the slots it reads name
        // no address it can reach (one node holding every slot that never met another announces
        // an empty host), and the check would end without a word (exit 13, an unsettled await).
        await withDeadline(r.connect(), 3 * timeoutMs, () => `no connection to ${t.cluster ? "the cluster's nodes" : "it"} within ${3 * timeoutMs} ms${t.cluster ? " (do the nodes announce an address this machine reaches? CLUSTER SLOTS shows it)" : ""}${notAnsweringSeeds(seeds)}`);
      } catch (e) {
        throw refusal ?? e;
      }
      const pong = await r.ping();
      if (pong !== "PONG") throw new Error(`unexpected PING reply ${pong}`);
      if (r instanceof Cluster) return (await clusterMasters(r, timeoutMs)) + notAnsweringSeeds(seeds) + (await clusterGaps(r));
      await refuseClusterNode(r, t.nodes[0].host, t.nodes[0].port);
    } finally {
      r.disconnect();
    }
  }, redis.cluster !== undefined ? REDIS_CLUSTER_DOWN_HINT : undefined);
}

/** One seed node of `redis.cluster.nodes` as it answers alone: its cluster_state, or why it did not answer. */
interface SeedProbe {
  readonly node: string;
  readonly state?: string;
  readonly error?: unknown;
}

async function probeSeed(n: { host: string; port: number }, options: RedisOptions, timeoutMs: number): Promise<SeedProbe> {
  const node = `${n.host}:${n.port}`;
  const c = new Redis({ host: n.host, port: n.port, ...options });
  // The socket's own error (ECONNREFUSED, a refused AUTH) says more than connect()'s "Connection is closed.".
  let cause: unknown;
  c.on("error", (e: unknown) => void (cause ??= e));
  try {
    await withDeadline(c.connect(), timeoutMs, () => `no answer within ${timeoutMs} ms`);
    const info = String(await withDeadline(c.cluster("INFO"), timeoutMs, () => `no answer within ${timeoutMs} ms`));
    return { node, state: /cluster_state:(\w+)/.exec(info)?.[1] ?? "unknown" };
  } catch (e) {
    return { node, error: cause ?? e };
  } finally {
    c.disconnect();
  }
}

/** "; not answering: host:port (why), ..." for the seed nodes that did not answer (a refusal answers), or "". */
function notAnsweringSeeds(seeds: readonly SeedProbe[]): string {
  const silent = seeds.filter((x) => x.error !== undefined && !isAuthRefusal("redis", x.error));
  if (silent.length === 0) return "";
  const why = (e: unknown): string => (e instanceof Error ? e.message || e.name : String(e)).split("\n")[0];
  return `; ${seeds.length - silent.length} of ${seeds.length} seed nodes answer; not answering: ${silent.map((x) => `${x.node} (${why(x.error)})`).join(", ")}`;
}

/**
 * What a cluster that serves every slot may still lack, read from CLUSTER SLOTS (which lists live
 * replicas only) and CLUSTER INFO: masters left without a replica, whose next crash takes their slots
 * down (after a failover, until the dead node is back), and nodes the cluster knows that serve
 * nothing (failed, or not joined). "" when there is nothing to say.
 */
async function clusterGaps(c: Cluster): Promise<string> {
  // Each range: [start, end, master, ...replicas], a node as [host, port, id, ...]; a master serves several ranges.
  const replicas = new Map<string, { node: string; replicas: Set<string> }>();
  for (const [, , master, ...rest] of await c.cluster("SLOTS")) {
    const entry = replicas.get(master[2]) ?? { node: `${master[0]}:${master[1]}`, replicas: new Set<string>() };
    for (const r of rest) entry.replicas.add(r[2]);
    replicas.set(master[2], entry);
  }
  const inMap = replicas.size + [...replicas.values()].reduce((n, m) => n + m.replicas.size, 0);
  const known = Number(/cluster_known_nodes:(\d+)/.exec(String(await c.cluster("INFO")))?.[1] ?? inMap);
  const alone = [...replicas.values()].filter((m) => m.replicas.size === 0).map((m) => m.node);
  const parts = [
    ...(known > inMap ? [`${known - inMap} of ${known} cluster nodes serve no slot (failed, or not joined)`] : []),
    ...(alone.length ? [`no replica for master ${alone.join(", ")}`] : []),
  ];
  return parts.map((p) => `; ${p}`).join("");
}

/**
 * A cluster node answers PING, which names no key, as a single server would; the first keyed
 * command is then redirected and refused (single-server-redis.ts). Its INFO says what it is, so the
 * check gives that E1002 now. A server that refuses INFO (an ACL of someone else's) is not judged.
 */
async function refuseClusterNode(r: Redis, host: string, port: number): Promise<void> {
  const info = await r.info("cluster").catch(() => "");
  if (/^cluster_enabled:1\s*$/m.test(info)) throw clusterNodeAsSingleServer(host, port, "its INFO reports cluster_enabled:1");
}

/** `p`, or an Error with `why()` once `ms` have passed without it settling. */
function withDeadline<T>(p: Promise<T>, ms: number, why: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(why())), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * A Redis Cluster is up when every slot is served (cluster_state:ok) and every master serving them
 * answers: one node answering PING says nothing of the shard a crashed master left without a replica.
 */
async function clusterMasters(c: Cluster, timeoutMs: number): Promise<string> {
  const info = String(await c.cluster("INFO"));
  const state = /cluster_state:(\w+)/.exec(info)?.[1] ?? "unknown";
  if (state !== "ok") throw new Error(`cluster_state:${state} (slots without a live master)`);
  const masters = c.nodes("master");
  const silent: string[] = [];
  await Promise.all(
    masters.map(async (m) => {
      try {
        await withDeadline(m.ping(), timeoutMs, () => `no answer within ${timeoutMs} ms`);
      } catch (e) {
        silent.push(`${m.options.host ?? "?"}:${m.options.port ?? "?"} (${(e as Error).message})`);
      }
    }),
  );
  if (silent.length) throw new Error(`master ${silent.join(", ")} does not answer`);
  return `${masters.length} master${masters.length === 1 ? "" : "s"} answering, cluster_state ok`;
}

/**
 * Every server of a `rabbitmq.url` list, each on its own. Up while one answers (clients fail over to
 * it; quorum queues keep going while a majority of the cluster lives); the detail then names the
 * nodes that do not. A refused login anywhere is the identity's fault (every node shares the users).
 */
export async function checkRabbit(target: string | WmsConfig["rabbitmq"], timeoutMs = 3000): Promise<ServiceStatus> {
  const rabbit = section<"rabbitmq">(target);
  return timed("rabbitmq", safeDescribe("rabbitmq", rabbit), async () => {
    const nodes = await probeRabbitNodes(rabbit.url, rabbit, timeoutMs);
    return someNodesAnswer(nodes, (e) => isWmsError(e) && e.code === ERR.SERVICE_AUTH_FAILED);
  });
}

/** The three services as the config's identity sees them: whether each answers and admits it. */
export async function checkServices(config: WmsConfig): Promise<ServiceStatus[]> {
  return Promise.all([checkNats(config.nats), checkRedis(config.redis), checkRabbit(config.rabbitmq)]);
}

/**
 * What `wms services check` reports: an identity whose role the role table gives no RabbitMQ user
 * (`withoutRabbitUser`, that role's name; the CLI reads it from security/transport-roles.ts) can
 * only be refused there; that refusal still proves the broker answers, so for the user it counts as
 * up and says why. checkServices itself keeps the refusal (least-privilege tests assert it).
 */
export function asTheUserNeedsThem(statuses: readonly ServiceStatus[], withoutRabbitUser: string | undefined): ServiceStatus[] {
  return statuses.map((s) =>
    s.service === "rabbitmq" && s.state === "auth-failed" && withoutRabbitUser !== undefined
      ? { service: "rabbitmq", url: s.url, up: true, state: "up", latencyMs: s.latencyMs, detail: [s.detail, `it refused this identity: the ${withoutRabbitUser} role holds no RabbitMQ user, as it needs none`].filter(Boolean).join("; ") }
      : s,
  );
}
