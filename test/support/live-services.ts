// The connections an integration test holds to the loopback servers, opened and closed as one:
// close() deletes the namespace's keys first (while Redis is still open), then disconnects.
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { openNats, openRedis } from "../../platform/connections.ts";
import type { LoadedConfig } from "../../platform/config.ts";
import { deleteNamespaceKeys } from "./redis-cleanup.ts";

export interface LiveServices {
  readonly nc: NatsConnection;
  readonly redis: RedisClient;
  /** Deletes the namespace's keys, then closes every connection opened here. */
  close(): Promise<void>;
}

export async function openLiveServices(loaded: LoadedConfig, clientName: string): Promise<LiveServices> {
  const nc = await openNats(loaded.config, clientName);
  const redis = openRedis(loaded.config);
  const close = async (): Promise<void> => {
    await deleteNamespaceKeys(redis, loaded.names.namespace);
    await nc.close();
    redis.disconnect();
  };
  return { nc, redis, close };
}
