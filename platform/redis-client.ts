// A single Redis server or a Redis Cluster (ioredis `Redis` or `Cluster`, opened by
// connections.ts), and what code that runs on both needs: the slot of a key, to group batched
// calls so each touches one slot, and every master, because SCAN and DBSIZE reach one node only.
import { createRequire } from "node:module";
import type { Cluster, Redis } from "ioredis";

export type RedisClient = Redis | Cluster;

// cluster-key-slot is the CRC16 ioredis itself routes by, so our grouping and its routing agree.
const calculateSlot = createRequire(import.meta.url)("cluster-key-slot") as (key: string) => number;

/** The Redis Cluster slot of a key (its `{hash tag}` if it has one), 0..16383. */
export function slotOf(key: string): number {
  return calculateSlot(key);
}

export function isCluster(c: RedisClient): c is Cluster {
  return c.isCluster;
}

/** Resolves once the client can be asked for its nodes (a cluster learns them after connecting). */
async function ready(c: RedisClient): Promise<void> {
  if (c.status === "ready") return;
  if (c.status === "wait") await c.connect();
  if ((c.status as string) === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const onReady = (): void => {
      c.off("error", onError);
      resolve();
    };
    const onError = (e: unknown): void => {
      c.off("ready", onReady);
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    c.once("ready", onReady);
    c.once("error", onError);
  });
}

/** The servers holding data: the one server, or every master of the cluster as it stands now. */
export async function dataNodes(c: RedisClient): Promise<Redis[]> {
  if (!isCluster(c)) return [c];
  await ready(c);
  return c.nodes("master");
}

/** Every key matching a SCAN pattern, on every master; in pages, as SCAN gives them. */
export async function* scanAll(c: RedisClient, pattern: string, count = 1000): AsyncGenerator<string[]> {
  for (const node of await dataNodes(c)) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", count);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== "0");
  }
}

/** Splits keys by slot, so each group can go into one multi-key command on a cluster. */
export function bySlot<T>(items: readonly T[], keyOf: (item: T) => string | undefined): T[][] {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const k = keyOf(item);
    const slot = k === undefined ? -1 : slotOf(k);
    const g = groups.get(slot);
    if (g) g.push(item);
    else groups.set(slot, [item]);
  }
  return [...groups.values()];
}
