// The connections an integration test holds to the loopback servers, opened and closed as one:
// close() deletes the namespace's keys first (while Redis is still open), then disconnects.
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { openNats, openRedis } from "../../platform/connections.ts";
import type { LoadedConfig } from "../../platform/config.ts";
import type { TransportRole } from "../../security/index.ts";
import { deleteNamespaceKeys } from "./redis-cleanup.ts";
import { asRole } from "./test-roles.ts";

export interface LiveServices {
  readonly nc: NatsConnection;
  readonly redis: RedisClient;
  /** Deletes the namespace's keys, then closes every connection opened here. */
  close(): Promise<void>;
}

/**
 * `as`: the role whose part the test plays with these connections (its identity on authenticated
 * servers, test-roles.ts). A role without NATS or Redis rights (monitor, pilot) gets refused there.
 */
export async function openLiveServices(loaded: LoadedConfig, clientName: string, o: { as: TransportRole }): Promise<LiveServices> {
  const { config } = asRole(loaded, o.as);
  const nc = await openNats(config, clientName);
  const redis = openRedis(config);
  const close = async (): Promise<void> => {
    await deleteNamespaceKeys(redis, loaded.names.namespace);
    await nc.close();
    redis.disconnect();
  };
  return { nc, redis, close };
}

/** One more NATS connection, as ROLE: the other party of a test (a pilot, the `wms` of an operator...). */
export async function openNatsAs(loaded: LoadedConfig, role: TransportRole, clientName: string): Promise<NatsConnection> {
  return openNats(asRole(loaded, role).config, clientName);
}

/** A Redis connection as ROLE (its ACL user on authenticated servers). */
export function openRedisAs(loaded: LoadedConfig, role: TransportRole): RedisClient {
  return openRedis(asRole(loaded, role).config);
}
