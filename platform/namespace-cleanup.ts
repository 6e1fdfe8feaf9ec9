import { keysBySlot, scanAll, type RedisClient } from "./redis-client.ts";

/**
 * Deletes every key of a namespace: its own keys (`ns:`, sharded ones included) and its BullMQ
 * queues (`{ns}`), on every master of a cluster, where a DEL may name keys of one slot only.
 */
export async function deleteNamespaceKeys(redis: RedisClient, namespace: string): Promise<number> {
  let deleted = 0;
  for (const pattern of [`${namespace}:*`, `{${namespace}}*`]) {
    for await (const keys of scanAll(redis, pattern)) {
      const counts = await Promise.all(keysBySlot(redis, keys).map((g) => redis.del(...g)));
      deleted += counts.reduce((a, b) => a + b, 0);
    }
  }
  return deleted;
}
