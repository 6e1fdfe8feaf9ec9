import type { Redis } from "ioredis";

/** Deletes every key of a namespace: its own keys (`ns:`) and its BullMQ queues (`{ns}`). */
export async function deleteNamespaceKeys(redis: Redis, namespace: string): Promise<number> {
  let deleted = 0;
  for (const pattern of [`${namespace}:*`, `{${namespace}}*`]) {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== "0");
  }
  return deleted;
}
