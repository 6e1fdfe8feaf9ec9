// Where each transport is and who we are to it, worked out from the config once and checked at
// load time, so a bad server list or an unreadable secret file is one E1002 line at start rather
// than a connect error later. connections.ts and service-check.ts open what this describes.
import { readFileSync } from "node:fs";
import { ERR, WmsError, type WmsConfig } from "../schemas/index.ts";
import { fileErrorText } from "./file-error-text.ts";

export interface TlsPaths {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface NatsTarget {
  /** host:port of every server; nats.js tries them in turn and learns the rest from the cluster. */
  readonly servers: string[];
  readonly tls: boolean;
  readonly user?: string;
  /** Either inline or the name of the file to read it from at connect time. */
  readonly password?: SecretRef;
  readonly nkeySeedFile?: string;
  readonly credsFile?: string;
}

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

export interface RedisTarget {
  /** One node for a single server; the seed nodes for a cluster. */
  readonly nodes: RedisNode[];
  readonly cluster: boolean;
  readonly tls: boolean;
  readonly db?: number;
  readonly username?: string;
  readonly password?: SecretRef;
}

export interface RabbitTarget {
  /** Tried in order until one accepts: RabbitMQ clients fail over by listing the cluster's nodes. */
  readonly urls: URL[];
  readonly username?: string;
  readonly password?: SecretRef;
}

export type SecretRef = { readonly inline: string } | { readonly file: string };

const NATS_SCHEMES = new Set(["nats:", "tls:"]);
const REDIS_SCHEMES = new Set(["redis:", "rediss:"]);
const RABBIT_SCHEMES = new Set(["amqp:", "amqps:"]);

function bad(msg: string): never {
  throw new WmsError(ERR.BAD_CONFIG, msg);
}

function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function parseUrl(text: string, schemes: Set<string>, field: string, defaultScheme: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${defaultScheme}//${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return bad(`${field}: '${redactUrl(text)}' is not a URL`);
  }
  if (!schemes.has(u.protocol)) bad(`${field}: '${redactUrl(text)}' must start with ${[...schemes].map((s) => `${s}//`).join(" or ")}`);
  if (!u.hostname) bad(`${field}: '${redactUrl(text)}' names no host`);
  return u;
}

/** A password from the URL, inline config or a file: the three places, in that order of weakness. */
function secretOf(section: { password?: string; passwordFile?: string }, fromUrl: string, field: string): SecretRef | undefined {
  if (section.password !== undefined && section.passwordFile !== undefined) bad(`${field}: give password or passwordFile, not both`);
  if (section.passwordFile !== undefined) return { file: section.passwordFile };
  if (section.password !== undefined) return { inline: section.password };
  return fromUrl ? { inline: decodeURIComponent(fromUrl) } : undefined;
}

export function natsTarget(nats: WmsConfig["nats"]): NatsTarget {
  const urls = splitList(nats.url).map((t) => parseUrl(t, NATS_SCHEMES, "nats.url", "nats:"));
  if (urls.length === 0) bad("nats.url names no server");
  const first = urls[0];
  const user = nats.user ?? (first.username ? decodeURIComponent(first.username) : undefined);
  const password = secretOf(nats, first.password, "nats");
  const ways = [user !== undefined, nats.nkeySeedFile !== undefined, nats.credsFile !== undefined].filter(Boolean).length;
  if (ways > 1) bad("nats: give one of user/password, nkeySeedFile or credsFile");
  if (password !== undefined && user === undefined) bad("nats: a password needs a user");
  if (user !== undefined && password === undefined) bad(`nats: user '${user}' has no password (password or passwordFile)`);
  return {
    servers: urls.map((u) => `${u.hostname.includes(":") ? `[${u.hostname}]` : u.hostname}:${u.port || 4222}`),
    tls: urls.some((u) => u.protocol === "tls:") || nats.tls !== undefined,
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(nats.nkeySeedFile !== undefined ? { nkeySeedFile: nats.nkeySeedFile } : {}),
    ...(nats.credsFile !== undefined ? { credsFile: nats.credsFile } : {}),
  };
}

export function redisTarget(redis: WmsConfig["redis"]): RedisTarget {
  const cluster = redis.cluster !== undefined;
  const texts = redis.cluster?.nodes ?? [redis.url];
  const urls = texts.map((t) => parseUrl(t, REDIS_SCHEMES, cluster ? "redis.cluster.nodes" : "redis.url", "redis:"));
  const first = urls[0];
  const username = redis.username ?? (first.username ? decodeURIComponent(first.username) : undefined);
  const password = secretOf(redis, first.password, "redis");
  const dbText = first.pathname.replace(/^\//, "");
  let db: number | undefined;
  if (dbText !== "") {
    db = Number(dbText);
    if (!Number.isInteger(db) || db < 0) bad(`redis.url: database '${dbText}' is not a number`);
    if (cluster && db !== 0) bad("redis.cluster.nodes: a Redis Cluster has only database 0");
  }
  return {
    nodes: urls.map((u) => ({ host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || 6379) })),
    cluster,
    tls: urls.some((u) => u.protocol === "rediss:") || redis.tls !== undefined,
    ...(db !== undefined ? { db } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}

export function rabbitTarget(rabbit: WmsConfig["rabbitmq"]): RabbitTarget {
  const urls = splitList(rabbit.url).map((t) => parseUrl(t, RABBIT_SCHEMES, "rabbitmq.url", "amqp:"));
  if (urls.length === 0) bad("rabbitmq.url names no server");
  const first = urls[0];
  const username = rabbit.username ?? (first.username ? decodeURIComponent(first.username) : undefined);
  const password = secretOf(rabbit, first.password, "rabbitmq");
  if (password !== undefined && username === undefined) bad("rabbitmq: a password needs a username");
  const out = urls.map((u) => {
    const v = new URL(u.toString());
    if (rabbit.tls !== undefined && v.protocol === "amqp:") bad(`rabbitmq: tls is set but '${redactUrl(u.toString())}' is amqp://, use amqps://`);
    if (rabbit.vhost !== undefined) v.pathname = `/${encodeURIComponent(rabbit.vhost)}`;
    v.username = "";
    v.password = "";
    return v;
  });
  return { urls: out, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
}

/** Reads a secret at connect time: a file's first line, or the inline value. */
export function readSecret(ref: SecretRef): string {
  if ("inline" in ref) return ref.inline;
  let text: string;
  try {
    text = readFileSync(ref.file, "utf8");
  } catch (e) {
    throw new WmsError(ERR.BAD_CONFIG, `secret file ${ref.file}: ${fileErrorText(e)}`);
  }
  const value = text.replace(/\r?\n$/, "");
  if (value === "" || value.includes("\n")) throw new WmsError(ERR.BAD_CONFIG, `secret file ${ref.file} must hold one non-empty line`);
  return value;
}

export function readPem(path: string | undefined, field: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new WmsError(ERR.BAD_CONFIG, `${field} ${path}: ${fileErrorText(e)}`);
  }
}

/** Checks every transport's settings; throws E1002 naming the first problem. */
export function checkServiceTargets(config: WmsConfig): void {
  natsTarget(config.nats);
  redisTarget(config.redis);
  rabbitTarget(config.rabbitmq);
}

/** A URL (or comma-separated list) with any password replaced, for logs and messages. */
export function redactUrl(text: string): string {
  return text
    .split(",")
    .map((part) => part.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, "$1***@"))
    .join(",");
}

/** What a user sees of a transport: its servers, never a secret. */
export function describeTarget(kind: "nats" | "redis" | "rabbitmq", config: WmsConfig): string {
  if (kind === "nats") {
    const t = natsTarget(config.nats);
    // Every server with its scheme, as wms.yaml lists them and `wms status` shows them.
    return t.servers.map((s) => `${t.tls ? "tls" : "nats"}://${s}`).join(",");
  }
  if (kind === "redis") {
    const t = redisTarget(config.redis);
    const scheme = t.tls ? "rediss" : "redis";
    return t.cluster ? `cluster ${t.nodes.map((n) => `${scheme}://${n.host}:${n.port}`).join(",")}` : `${scheme}://${t.nodes[0].host}:${t.nodes[0].port}`;
  }
  return rabbitTarget(config.rabbitmq)
    .urls.map((u) => u.toString())
    .join(",");
}

/**
 * Who a config logs in as on each transport, never a secret: what `wms services check` says it
 * used, so a refusal names the identity refused. RabbitMQ's client logs in as guest when given
 * no user; NATS and Redis connect anonymously (Redis's `default` user when given only a password).
 */
export function describeCredentials(config: WmsConfig): string {
  const n = natsTarget(config.nats);
  const nats = n.user !== undefined ? `user ${n.user}` : n.nkeySeedFile !== undefined ? `the NKey in ${n.nkeySeedFile}` : n.credsFile !== undefined ? `the creds file ${n.credsFile}` : "none";
  const r = redisTarget(config.redis);
  const redis = r.username !== undefined ? `user ${r.username}` : r.password !== undefined ? "user default" : "none";
  const rabbit = `user ${rabbitTarget(config.rabbitmq).username ?? "guest"}`;
  return `NATS: ${nats}, Redis: ${redis}, RabbitMQ: ${rabbit}`;
}
