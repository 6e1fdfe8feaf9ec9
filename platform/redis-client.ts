// A single Redis server or a Redis Cluster (ioredis `Redis` or `Cluster`, opened by
// connections.ts), and what code that runs on both needs besides scripts (redis-script.ts): every
// master, because SCAN and DBSIZE reach one node only, and keys grouped by hash slot, because a
// multi-key command on a cluster may touch one slot only.
import type { Cluster, Redis } from "ioredis";
import { ERR, WmsError } from "../schemas/index.ts";
import { slotTag, type RedisClient } from "./redis-script.ts";

export type { RedisClient } from "./redis-script.ts";

export function isCluster(c: RedisClient): c is Cluster {
  return c.isCluster;
}

/** Resolves once the client can be asked for its nodes (a cluster learns them after connecting). */
async function ready(c: Cluster): Promise<void> {
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

/** Keys grouped so that each group is one multi-key command on a cluster (one hash tag each; one group on a single server). */
export function keysBySlot(c: RedisClient, keys: readonly string[]): string[][] {
  if (!isCluster(c)) return [[...keys]];
  const groups = new Map<string, string[]>();
  for (const k of keys) {
    const tag = slotTag(k);
    const g = groups.get(tag);
    if (g) g.push(k);
    else groups.set(tag, [k]);
  }
  return [...groups.values()];
}

/**
 * The client as the one server it is, for what only a single server answers (INFO, CLIENT LIST,
 * a BullMQ Worker); a Redis Cluster is refused with one coded line, not a failure later.
 */
export function singleServer(c: RedisClient, what: string): Redis {
  if (isCluster(c)) throw new WmsError(ERR.BAD_CONFIG, `${what} needs a single Redis server (redis.url), not redis.cluster`);
  return c;
}

/** CRC16-CCITT (XMODEM) lookup table, the checksum Redis Cluster hashes keys with. */
const CRC16 = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** The hash slot Redis Cluster keeps `key` in (CLUSTER KEYSLOT): CRC16 of its hash tag, mod 16384. */
export function keySlot(key: string): number {
  let crc = 0;
  for (const byte of Buffer.from(slotTag(key), "utf8")) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ byte) & 0xff];
  return crc & 0x3fff;
}

/** The master serving `key`'s slot as the client's slot map says now, if it knows one. */
function masterOf(c: Cluster, key: string): Redis | undefined {
  const at = c.slots[keySlot(key)]?.[0];
  if (at === undefined) return undefined;
  return c.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === at);
}

/**
 * `wait(key)`: once every write this client sent so far to the master serving `key`'s slot is on
 * `replicas` of its replicas (WAIT), or `timeoutMs` passed; resolves with how many acknowledged (0
 * where the client knows no master for the slot). WAIT covers every earlier write on the same
 * connection, so the calls made in one event-loop turn for the same master share one WAIT. It
 * blocks that connection meanwhile: the client's other commands to that master queue behind it.
 * Rejects when the master does not answer (it died: what was written may be lost).
 */
export function replicaWaiter(c: Cluster, replicas: number, timeoutMs: number): (key: string) => Promise<number> {
  const scheduled = new Map<Redis, Promise<number>>();
  return (key) => {
    const node = masterOf(c, key);
    if (!node) return Promise.resolve(0);
    let p = scheduled.get(node);
    if (!p) {
      p = new Promise<void>((r) => process.nextTick(r)).then(async () => {
        scheduled.delete(node);
        return Number(await node.call("WAIT", String(replicas), String(timeoutMs)));
      });
      scheduled.set(node, p);
    }
    return p;
  };
}
