// `wms down --purge`: what a deployment left on services it used as they are (the machine's, or
// servers set up from .wms/secrets), which `wms down` alone keeps for the next `wms up`. Private
// servers `wms up` started go away whole with their temporary folder, so they are never purged here.
// Only this namespace: Redis keys under its prefix (on every master of a cluster, platform/namespace-
// cleanup.ts), the RabbitMQ queues and exchanges named for it (agents/reports/topology.ts, the one
// owner of that topology). NATS keeps nothing: no JetStream stream or KV bucket is used.
import { existsSync } from "node:fs";
import path from "node:path";
import { configAs, type LoadedConfig } from "../platform/config.ts";
import { openRabbit, openRedis } from "../platform/connections.ts";
import { checkRabbit, checkRedis } from "../platform/service-check.ts";
import { deleteNamespaceKeys } from "../platform/namespace-cleanup.ts";
import { redactUrl } from "../platform/service-targets.ts";
import { purgeTopology, type TopologyPurge } from "../agents/reports/topology.ts";

export type PurgedService = "redis" | "rabbitmq";

export interface PurgeTarget {
  readonly service: PurgedService | "nats";
  /** Where, without a password. */
  readonly where: string;
  /** Why nothing is deleted there, when nothing is. */
  readonly skip?: string;
}

export interface PurgeResult {
  readonly namespace: string;
  readonly redis?: { readonly where: string; readonly keysDeleted: number };
  /** What RabbitMQ confirmed deleted, and what was already absent (an earlier purge, agents never started). */
  readonly rabbitmq?: { readonly where: string } & TopologyPurge;
  readonly skipped: ReadonlyArray<{ readonly service: string; readonly why: string }>;
}

/**
 * What a purge would touch, for the confirmation: `startedPrivately` is the state file's list of
 * services `wms up` started itself ("redis (redis://...)"), whose data went with their folder.
 */
export function purgeTargets(loaded: LoadedConfig, startedPrivately: readonly string[]): PurgeTarget[] {
  const { config } = loaded;
  const privateOne = (s: string): boolean => startedPrivately.some((p) => p === s || p.startsWith(`${s} `));
  const redisWhere = config.redis.cluster ? `Redis Cluster ${config.redis.cluster.nodes.map((n) => redactUrl(n)).join(",")} (every master)` : redactUrl(config.redis.url);
  return [
    { service: "redis", where: redisWhere, ...(privateOne("redis") && { skip: "started privately by wms up: its data went with it" }) },
    { service: "rabbitmq", where: redactUrl(config.rabbitmq.url), ...(privateOne("rabbitmq") && { skip: "started privately by wms up: its data went with it" }) },
    { service: "nats", where: redactUrl(config.nats.url), skip: "it keeps nothing of a deployment: no JetStream streams or KV buckets" },
  ];
}

/**
 * Who deletes: on servers set up from the deployment's `.wms/secrets` (they admit its users), the
 * roles that made the data, as `wms up` runs them: the matchmaker for the keys, the agents for the
 * report topology; on servers used as they are (anonymous), the configuration as it is.
 */
async function asOwners(loaded: LoadedConfig, secretsDir: string): Promise<{ redis: LoadedConfig; rabbitmq: LoadedConfig }> {
  const identity = (role: string): string => path.join(secretsDir, role, "identity.yaml");
  if (!existsSync(identity("matchmaker")) || !existsSync(identity("agents"))) return { redis: loaded, rabbitmq: loaded };
  const redis = configAs(loaded, identity("matchmaker"));
  const rabbitmq = configAs(loaded, identity("agents"));
  const [r, q] = await Promise.all([checkRedis(redis.config.redis), checkRabbit(rabbitmq.config.rabbitmq)]);
  return { redis: r.up ? redis : loaded, rabbitmq: q.up ? rabbitmq : loaded };
}

/** Deletes the namespace's keys, queues and exchanges on the targets not skipped; `secretsDir` is the deployment's `.wms/secrets`. */
export async function purgeNamespace(loaded: LoadedConfig, targets: readonly PurgeTarget[], secretsDir: string): Promise<PurgeResult> {
  const { names } = loaded;
  const owners = await asOwners(loaded, secretsDir);
  const skipped = targets.filter((t) => t.skip !== undefined).map((t) => ({ service: t.service, why: t.skip as string }));
  const wanted = (s: PurgedService): PurgeTarget | undefined => targets.find((t) => t.service === s && t.skip === undefined);
  let redis: PurgeResult["redis"];
  let rabbitmq: PurgeResult["rabbitmq"];
  const r = wanted("redis");
  if (r) {
    const client = openRedis(owners.redis.config);
    try {
      redis = { where: r.where, keysDeleted: await deleteNamespaceKeys(client, names.namespace) };
    } finally {
      client.disconnect();
    }
  }
  const q = wanted("rabbitmq");
  if (q) {
    const conn = await openRabbit(owners.rabbitmq.config);
    try {
      rabbitmq = { where: q.where, ...(await purgeTopology(conn, names)) };
    } finally {
      await conn.close().catch(() => undefined);
    }
  }
  return { namespace: names.namespace, ...(redis && { redis }), ...(rabbitmq && { rabbitmq }), skipped };
}
