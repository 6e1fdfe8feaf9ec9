// The connections an integration test holds to the loopback servers, opened and closed as one:
// close() deletes the namespace's keys first (while Redis is still open), then disconnects.
import type { NatsConnection } from "nats";
import type { Redis } from "ioredis";
import { openNats, openRedis } from "../../platform/connections.ts";
import type { LoadedConfig } from "../../platform/config.ts";
import { deleteNamespaceKeys } from "./redis-cleanup.ts";

export interface LiveServices {
  readonly nc: NatsConnection;
  readonly redis: Redis;
  /** Deletes the namespace's keys, then closes every connection opened here. */
  close(): Promise<void>;
}

export interface LiveServicesWithBull extends LiveServices {
  /** A second Redis connection set up as BullMQ requires (maxRetriesPerRequest null). */
  readonly bull: Redis;
}

export async function openLiveServices(loaded: LoadedConfig, clientName: string): Promise<LiveServices>;
export async function openLiveServices(loaded: LoadedConfig, clientName: string, o: { bull: true }): Promise<LiveServicesWithBull>;
export async function openLiveServices(loaded: LoadedConfig, clientName: string, o: { bull?: boolean } = {}): Promise<LiveServices | LiveServicesWithBull> {
  const nc = await openNats(loaded.config, clientName);
  const redis = openRedis(loaded.config);
  const bull = o.bull ? openRedis(loaded.config, { forBullMq: true }) : undefined;
  const close = async (): Promise<void> => {
    await deleteNamespaceKeys(redis, loaded.names.namespace);
    await nc.close();
    redis.disconnect();
    bull?.disconnect();
  };
  return bull ? { nc, redis, bull, close } : { nc, redis, close };
}
