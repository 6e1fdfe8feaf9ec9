// What a namespace keeps in Redis, for tests that check no secret is stored in clear. SCAN, not
// KEYS: KEYS is a dangerous command that no role's Redis user may run (transport-roles.ts).
import { scanAll, type RedisClient } from "../../../platform/redis-client.ts";

/** Every key under PREFIX, sorted. */
export async function namespaceKeys(redis: RedisClient, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const keys of scanAll(redis, `${prefix}*`)) out.push(...keys);
  return out.sort();
}

/** The values of every hash and string under PREFIX (hashes: field values; strings: the value). */
export async function storedValues(redis: RedisClient, prefix: string): Promise<{ hashes: string[]; strings: string[] }> {
  const hashes: string[] = [];
  const strings: string[] = [];
  for (const k of await namespaceKeys(redis, prefix)) {
    const type = await redis.type(k);
    if (type === "hash") hashes.push(...Object.values(await redis.hgetall(k)));
    else if (type === "string") strings.push((await redis.get(k)) ?? "");
  }
  return { hashes, strings };
}
