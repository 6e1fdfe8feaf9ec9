// The three transports, opened in one place with the settings every service wants, and passed in
// to the parts that use them. Core modules never import this file. Each process connects as the
// identity its config names (user, password or NKey, TLS): see service-targets.ts.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect as natsConnect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from "nats";
import type { ClusterOptions, Command, Redis, RedisOptions } from "ioredis";
import type { ConnectionOptions as TlsConnectionOptions } from "node:tls";
import type * as Amqp from "amqplib";
import { ERR, WmsError, type WmsConfig } from "../schemas/index.ts";
import { fileErrorText } from "./file-error-text.ts";
import { commandBytes } from "./redis-command-bytes.ts";
import { failoverClusterClass, failoverClusterOptions } from "./redis-failover.ts";
import { singleServerRedisClass } from "./single-server-redis.ts";
import type { Logger } from "./logger.ts";
import type { RedisClient } from "./redis-client.ts";
import { natsTarget, rabbitTarget, readPem, readSecret, redactUrl, redisTarget } from "./service-targets.ts";

// ioredis and amqplib (both CommonJS) are loaded on first use, not with this file: a pilot needs no
// Redis and no RabbitMQ before its first advert, and loading them is a tenth of its start-up CPU
// (`npm run bench -- --only cli`). Types come from the type-only imports above.
const requireCjs = createRequire(import.meta.url);
const ioredis = (): typeof import("ioredis") => requireCjs("ioredis") as typeof import("ioredis");
const amqplib = (): typeof import("amqplib") => requireCjs("amqplib") as typeof import("amqplib");

function readFileOrConfigError(path: string, field: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new WmsError(ERR.BAD_CONFIG, `${field} ${path}: ${fileErrorText(e)}`);
  }
}

/** nats.js connect options for this config's identity (shared by openNats and the service check). */
export function natsConnectOptions(nats: WmsConfig["nats"], name: string): ConnectionOptions {
  const t = natsTarget(nats);
  const opts: ConnectionOptions = { servers: t.servers, name };
  if (t.user !== undefined && t.password !== undefined) {
    opts.user = t.user;
    opts.pass = readSecret(t.password);
  }
  if (t.nkeySeedFile !== undefined) {
    const seed = new TextDecoder().decode(readFileOrConfigError(t.nkeySeedFile, "nats.nkeySeedFile")).trim();
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (t.credsFile !== undefined) opts.authenticator = credsAuthenticator(readFileOrConfigError(t.credsFile, "nats.credsFile"));
  if (nats.inboxPrefix !== undefined) opts.inboxPrefix = nats.inboxPrefix;
  if (t.tls) {
    opts.tls = {
      ...(nats.tls?.ca !== undefined ? { caFile: nats.tls.ca } : {}),
      ...(nats.tls?.cert !== undefined ? { certFile: nats.tls.cert } : {}),
      ...(nats.tls?.key !== undefined ? { keyFile: nats.tls.key } : {}),
    };
  }
  return opts;
}

export async function openNats(config: WmsConfig, name = "wms"): Promise<NatsConnection> {
  return natsConnect({
    ...natsConnectOptions(config.nats, name),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // nats.js otherwise captures a stack trace per request for a richer timeout error; our errors
    // are one line with a code, and the capture cost ~5% of a pilot-advert round trip (profiled).
    noAsyncTraces: true,
  });
}

/**
 * Logs a long-running service's NATS connection as an operator needs it, one line each: the server
 * it lost (it keeps trying the others of its list and those the cluster told it of), the one it is
 * back on, a server going into lame-duck mode. nats.js reconnects by itself and says nothing, so a
 * matchmaker whose NATS node died was silent about it, whether it found another node or not.
 */
export function logNatsStatus(nc: NatsConnection, logger: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      const server = typeof s.data === "string" ? redactUrl(s.data) : "";
      if (s.type === "disconnect") logger.warn({ server }, `NATS connection to ${server} lost; reconnecting to another server of the cluster`);
      // At the loss's level: a log kept at warn that shows the loss must show its end too.
      else if (s.type === "reconnect") logger.warn({ server }, `NATS connection back, on ${server}`);
      else if (s.type === "ldm") logger.warn({ server }, `NATS server ${server} is shutting down (lame-duck mode); moving to another`);
    }
  })().catch(() => undefined);
}

function tlsOptions(tls: { ca?: string; cert?: string; key?: string } | undefined, field: string): TlsConnectionOptions {
  const ca = readPem(tls?.ca, `${field}.ca`);
  const cert = readPem(tls?.cert, `${field}.cert`);
  const key = readPem(tls?.key, `${field}.key`);
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/** ioredis options for this config's identity: ACL user, password, TLS, database. */
export function redisConnectOptions(redis: WmsConfig["redis"]): RedisOptions {
  const t = redisTarget(redis);
  return {
    ...(t.username !== undefined ? { username: t.username } : {}),
    ...(t.password !== undefined ? { password: readSecret(t.password) } : {}),
    ...(t.db !== undefined ? { db: t.db } : {}),
    ...(t.tls ? { tls: tlsOptions(redis.tls, "redis.tls") } : {}),
  };
}

export interface RedisOpenOptions {
  /** A connection as BullMQ requires it: only the benchmarks' plain BullMQ baselines open one. */
  forBullMq?: boolean;
  lazy?: boolean;
  /**
   * Instead of ioredis's auto-pipelining, each command is written as it is made, into a socket
   * corked until the end of the event-loop turn: the commands of one turn still leave in one write,
   * without the Pipeline object, the per-command callback and the re-dispatch auto-pipelining
   * allocates for every turn (about 5 KB of heap for a lone command, 1 KB each in a turn of 16;
   * measured with the node 20 heap). The matchmaker's connection, where that was a fifth of what a
   * match allocates.
   */
  corked?: boolean;
}

function commonRedisOptions(opts: RedisOpenOptions): RedisOptions {
  return {
    maxRetriesPerRequest: opts.forBullMq ? null : 3,
    lazyConnect: opts.lazy ?? false,
    enableAutoPipelining: !opts.forBullMq && !opts.corked,
  };
}

type RedisClass = typeof import("ioredis").Redis;
let corkedRedis: RedisClass | undefined;

/** A command's wire form as one Buffer (redis-command-bytes.ts); ioredis's own string for arguments of any other kind. */
function commandWireBytes(this: Command, socket: object): string | Buffer {
  for (const a of this.args) if (typeof a !== "string" && !Buffer.isBuffer(a)) return ioredis().Command.prototype.toWritable.call(this, socket);
  return commandBytes(this.name, this.args as ReadonlyArray<string | Buffer>);
}

/**
 * ioredis's client, corking its socket from the first command of an event-loop turn to the turn's
 * end (`RedisOpenOptions.corked`), each command written as one Buffer.
 */
function corkedRedisClass(): RedisClass {
  corkedRedis ??= class CorkedRedis extends singleServerRedisClass(ioredis().Redis) {
    private corked = false;

    override sendCommand(...args: Parameters<Redis["sendCommand"]>): unknown {
      args[0].toWritable = commandWireBytes;
      // Only the connection's own socket once ready: before that ioredis queues commands itself.
      if (!this.corked && args[1] === undefined && this.status === "ready") {
        const socket = this.stream;
        this.corked = true;
        socket.cork();
        process.nextTick(() => {
          this.corked = false;
          socket.uncork();
        });
      }
      return super.sendCommand(...args);
    }
  };
  return corkedRedis;
}

/**
 * A single server or, with `redis.cluster.nodes`, ioredis's Cluster client over those seeds: every
 * store keeps what one script, MULTI or multi-key command touches in one hash slot, and scans every
 * master (redis-client.ts), so each service runs on both.
 *
 * Our connections are auto-pipelined: commands issued in one tick share one write, and a command
 * sent alone costs Redis ~15 µs of socket work (measured), more than most commands themselves.
 * BullMQ (the benchmarks' baselines only; dispatch is the jobs core's own) requires
 * maxRetriesPerRequest null and runs blocking fetches, so its connection is not pipelined.
 */
export function openRedis(config: WmsConfig, opts: RedisOpenOptions = {}): RedisClient {
  const t = redisTarget(config.redis);
  if (!t.cluster) {
    // A cluster node given as the one server is refused with E1002 at its first redirection (single-server-redis.ts).
    const Client = opts.corked ? corkedRedisClass() : singleServerRedisClass(ioredis().Redis);
    return new Client({ host: t.nodes[0].host, port: t.nodes[0].port, ...redisConnectOptions(config.redis), ...commonRedisOptions(opts) });
  }
  // `corked` is a single-server socket's: a cluster client writes to several, so it auto-pipelines.
  const { lazyConnect, ...perNode } = commonRedisOptions(opts);
  delete perNode.enableAutoPipelining;
  const clusterOpts: ClusterOptions = {
    lazyConnect,
    enableAutoPipelining: !opts.forBullMq,
    // ioredis re-reads the slot map on MOVED or on "Connection is closed"; a master that crashed
    // leaves its commands failing with "max retries per request" instead (maxRetriesPerRequest
    // above), so without a periodic refresh the client kept asking the dead node after its replica
    // had taken over (measured: a third of the keys unreadable 30 s after the failover).
    slotsRefreshInterval: 2000,
    ...failoverClusterOptions(),
    redisOptions: { ...redisConnectOptions(config.redis), ...perNode },
    // TLS certificates name hosts; the addresses CLUSTER SLOTS reports are IPs, so keep the name.
    ...(t.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
  };
  // Commands refused while a failover moves slots are sent again (redis-failover.ts).
  return new (failoverClusterClass(ioredis().Cluster))(
    t.nodes.map((n) => ({ host: n.host, port: n.port })),
    clusterOpts,
  );
}

/** amqplib socket options for this config's identity: PLAIN credentials and TLS files. */
export function rabbitSocketOptions(rabbit: Omit<WmsConfig["rabbitmq"], "url">, timeoutMs: number, url: string): Record<string, unknown> {
  const t = rabbitTarget({ ...rabbit, url });
  return {
    timeout: timeoutMs,
    ...(t.username !== undefined ? { credentials: amqplib().credentials.plain(t.username, t.password ? readSecret(t.password) : "") } : {}),
    ...(t.urls.some((u) => u.protocol === "amqps:") ? tlsOptions(rabbit.tls, "rabbitmq.tls") : {}),
  };
}

/**
 * The AMQP heartbeat asked for when a URL names none (`?heartbeat=N` on a URL of `rabbitmq.url`
 * wins). A broker node that hangs instead of dying (a paused VM, a partition dropping packets)
 * closes no socket: a client notices it only when two checks of its heartbeat timer in a row saw
 * nothing, 15-45 s with this instead of 60-180 s with RabbitMQ's default of 60 s, and only then
 * moves to the next URL of the list (test/faults/rabbitmq-frozen.fault.test.ts).
 */
export const RABBIT_HEARTBEAT_SEC = 15;

/** One server of the list; a refused login is E1012 naming the user. */
async function connectRabbitNode(u: URL, socket: Record<string, unknown>, username: string | undefined): Promise<Amqp.ChannelModel> {
  const target = new URL(u.toString());
  if (!target.searchParams.has("heartbeat")) target.searchParams.set("heartbeat", String(RABBIT_HEARTBEAT_SEC));
  try {
    return await amqplib().connect(target.toString(), socket);
  } catch (e) {
    if (isRabbitAuthRefusal(e)) throw new WmsError(ERR.SERVICE_AUTH_FAILED, `RabbitMQ at ${redactUrl(u.toString())} refused user '${username ?? "guest"}': ${(e as Error).message.split("\n")[0]}`);
    throw e;
  }
}

/**
 * Connects to the first server of the list that accepts us. An authentication refusal is not
 * retried on the next node (every node of a cluster shares its users), and says so with E1012.
 */
export async function connectRabbit(url: string, rabbit: Omit<WmsConfig["rabbitmq"], "url">, timeoutMs = 5000): Promise<Amqp.ChannelModel> {
  const t = rabbitTarget({ ...rabbit, url });
  const socket = rabbitSocketOptions(rabbit, timeoutMs, url);
  let last: unknown;
  for (const u of t.urls) {
    try {
      return await connectRabbitNode(u, socket, t.username);
    } catch (e) {
      if (e instanceof WmsError && e.code === ERR.SERVICE_AUTH_FAILED) throw e;
      last = e;
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}

/** What one server of a `rabbitmq.url` list did when asked on its own: its URL (no password) and, if it failed, why. */
export interface RabbitNodeProbe {
  readonly url: string;
  readonly error?: unknown;
}

/**
 * Opens and closes a connection to every server of the list at once, with the list's identity, for
 * `wms services check`: clients use the first that answers, so one dead node goes unnoticed until
 * the others fail too.
 */
export async function probeRabbitNodes(url: string, rabbit: Omit<WmsConfig["rabbitmq"], "url">, timeoutMs: number): Promise<RabbitNodeProbe[]> {
  const t = rabbitTarget({ ...rabbit, url });
  const socket = rabbitSocketOptions(rabbit, timeoutMs, url);
  return Promise.all(
    t.urls.map(async (u): Promise<RabbitNodeProbe> => {
      try {
        const conn = await connectRabbitNode(u, socket, t.username);
        conn.on("error", () => undefined);
        await conn.close();
        return { url: redactUrl(u.toString()) };
      } catch (e) {
        return { url: redactUrl(u.toString()), error: e };
      }
    }),
  );
}

export async function openRabbit(config: WmsConfig): Promise<Amqp.ChannelModel> {
  return connectRabbit(config.rabbitmq.url, config.rabbitmq, 5000);
}

/** Redis answered and refused who we are (no or wrong credentials, or a command or key the ACL denies). */
export function isRedisAuthRefusal(e: unknown): boolean {
  return /WRONGPASS|NOAUTH|NOPERM/.test(e instanceof Error ? e.message : String(e));
}

/** NATS answered and refused who we are. */
export function isNatsAuthRefusal(e: unknown): boolean {
  const msg = e instanceof Error ? `${(e as { code?: unknown }).code ?? ""} ${e.message}` : String(e);
  return /AUTHORIZATION_VIOLATION|Authorization Violation|AUTHENTICATION_EXPIRED|user authentication/i.test(msg);
}

/** amqplib reports a refused login as ACCESS_REFUSED (403) in the handshake. */
export function isRabbitAuthRefusal(e: unknown): boolean {
  const msg = e instanceof Error ? e.message : String(e);
  return /ACCESS_REFUSED|403|Handshake terminated by server/.test(msg);
}
