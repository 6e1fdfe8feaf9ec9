import { bySlot, isCluster, scanAll, type RedisClient } from "./redis-client.ts";

/**
 * Deletes every key of a namespace: its own keys (`ns:`), its sharded keys (`{ns:<kind>:<id>}`) and
 * its BullMQ queues (`{ns}`), on every master of a cluster. A DEL on a cluster may name keys of one
 * slot only, so each page is deleted slot by slot.
 */
export async function deleteNamespaceKeys(redis: RedisClient, namespace: string): Promise<number> {
  let deleted = 0;
  for (const pattern of [`${namespace}:*`, `{${namespace}:*`, `{${namespace}}*`]) {
    for await (const keys of scanAll(redis, pattern)) {
      const groups = isCluster(redis) ? bySlot(keys, (k) => k) : [keys];
      const counts = await Promise.all(groups.map((g) => redis.del(...g)));
      deleted += counts.reduce((a, b) => a + b, 0);
    }
  }
  return deleted;
}
