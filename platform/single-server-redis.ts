// The single-server client (`redis.url`), refusing a Redis Cluster node as a configuration error. A
// cluster node answers a command for a slot it does not serve with MOVED (or ASK while the slot
// migrates), which only a Cluster client follows. The registry reads these as an outage (E1003,
// retryable), right for the Cluster client in a failover (redis-failover.ts sends them again), but
// a single-server client that meets one was pointed at a cluster and will meet it on every try:
// the user must configure the cluster's nodes. Checked in ioredis's handling of a reply error, so
// the commands that succeed pay nothing.
import type { Redis } from "ioredis";
import { ERR, WmsError, redisRefusal } from "../schemas/index.ts";

type RedisClass = typeof import("ioredis").Redis;
type ReplyItem = Parameters<Redis["handleReconnection"]>[1];

/**
 * The E1002 for a single server at host:port that is a cluster node; `evidence` says how it showed
 * it (a redirection it answered, or `wms services check`'s INFO reading cluster_enabled:1), so a
 * command and the check give the user the same line.
 */
export function clusterNodeAsSingleServer(host: string, port: number, evidence: string): WmsError {
  return new WmsError(
    ERR.BAD_CONFIG,
    `redis.url ${host}:${port} is a node of a Redis Cluster (${evidence}); ` +
      "list the cluster's nodes under redis.cluster.nodes in wms.yaml instead, and unset WMS_REDIS_URL, which replaces them with one URL",
  );
}

let singleServer: RedisClass | undefined;

/** ioredis's Redis whose MOVED and ASK replies reject with clusterNodeAsSingleServer's E1002. */
export function singleServerRedisClass(base: RedisClass): RedisClass {
  singleServer ??= class SingleServerRedis extends base {
    // ioredis passes every error reply here (to decide whether to reconnect) before rejecting its command.
    override handleReconnection(err: Error, item: ReplyItem): void {
      const refusal = redisRefusal(err);
      if (refusal === "MOVED" || refusal === "ASK") {
        const answer = err.message.split("\n")[0];
        item.command.reject(clusterNodeAsSingleServer(this.options.host ?? "localhost", this.options.port ?? 6379, `it answered ${answer}`));
        return;
      }
      super.handleReconnection(err, item);
    }
  };
  return singleServer;
}
