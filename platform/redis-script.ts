// One way to run our Lua scripts: EVALSHA, falling back to EVAL when the server has not seen the
// script (first use, or after a restart / failover flushed the script cache). Unlike ioredis'
// defineCommand, this is an ordinary command, so it is safe on auto-pipelined connections (a
// pipeline created before defineCommand would lack the custom command and fail).
import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";

/** A single server or a Redis Cluster client: our scripts run on both (one hash slot per call). */
export type RedisClient = Redis | Cluster;

export interface RedisScript {
  readonly sha: string;
  run(redis: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown>;
}

/** A script that also runs read-only, for calls that only read (a mode of the script that writes nothing). */
export interface ReadableRedisScript extends RedisScript {
  /**
   * EVALSHA_RO: Redis refuses any write the script attempts, and its ACL then asks only for read
   * access to the keys, while a plain EVALSHA needs write access to every key it names (an
   * identity with read-only keys, the operator's, may read through scripts this way).
   */
  runReadOnly(redis: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown>;
}

export function redisScript(lua: string): ReadableRedisScript {
  const sha = createHash("sha1").update(lua).digest("hex");
  const run = async (redis: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>, readOnly: boolean): Promise<unknown> => {
    // One array for KEYS and ARGV (ioredis takes it as the command's arguments as they are): the
    // spread form built three more copies of them per call on the matchmaker's per-match path.
    const flat = keysAndArgs(keys, args);
    const once = async (): Promise<unknown> => {
      try {
        return await (readOnly ? redis.evalsha_ro(sha, keys.length, ...flat) : redis.evalsha(sha, keys.length, flat));
      } catch (e) {
        if (!(e instanceof Error) || !e.message.startsWith("NOSCRIPT")) throw e;
        return readOnly ? redis.eval_ro(lua, keys.length, ...flat) : redis.eval(lua, keys.length, flat);
      }
    };
    for (let tries = 1; ; tries++) {
      try {
        return await once();
      } catch (e) {
        if (!redis.isCluster || tries >= CLUSTER_RETRIES || !notRunOnCluster(e)) throw e;
        // ioredis follows MOVED for a lone command, but not for an auto-pipelined batch whose
        // commands got different refusals: after a failover the matchmaker's heartbeat answers
        // failed with MOVED and pilots gave up jobs they held (measured in the cluster task test).
        (redis as Cluster).refreshSlotsCache();
        await new Promise((r) => setTimeout(r, CLUSTER_RETRY_MS));
      }
    }
  };
  return {
    sha,
    run: (redis, keys, args) => run(redis, keys, args, false),
    runReadOnly: (redis, keys, args) => run(redis, keys, args, true),
  };
}

/** A failover takes a cluster-node-timeout and an election; this covers a few seconds of it. */
const CLUSTER_RETRIES = 30;
const CLUSTER_RETRY_MS = 200;

/** Refusals by which a Redis Cluster node says the script did not run (its slot is elsewhere or not served yet), so running it again is safe. */
function notRunOnCluster(e: unknown): boolean {
  return e instanceof Error && /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /.test(e.message);
}

function keysAndArgs(keys: readonly string[], args: ReadonlyArray<string | number>): string[] {
  const out = new Array<string>(keys.length + args.length);
  for (let i = 0; i < keys.length; i++) out[i] = keys[i];
  for (let i = 0; i < args.length; i++) out[keys.length + i] = String(args[i]);
  return out;
}

/** The text Redis Cluster hashes for a key: the first non-empty `{...}`, else the whole key. */
export function slotTag(key: string): string {
  const a = key.indexOf("{");
  if (a >= 0) {
    const b = key.indexOf("}", a + 1);
    if (b > a + 1) return key.slice(a + 1, b);
  }
  return key;
}

/**
 * True when `key` hashes by the same text as a key whose tag is `tag` (what `slotTag` returns),
 * without cutting the key: checked for every key of every script call.
 */
export function inSlot(key: string, tag: string): boolean {
  const a = key.indexOf("{");
  if (a >= 0) {
    const b = key.indexOf("}", a + 1);
    if (b > a + 1) return b - a - 1 === tag.length && key.startsWith(tag, a + 1);
  }
  return key === tag;
}

/** Most calls one script run carries; a larger burst is split, so no run holds Redis for long. */
export const MAX_SCRIPT_BATCH = 256;

interface Call {
  readonly keys: readonly string[];
  readonly args: ReadonlyArray<string | number>;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/**
 * A script whose calls made in one event-loop turn on one connection run as a single EVALSHA, each
 * call with its own KEYS and ARGV and its own result or error, in the order they were made. The
 * matchmaker answers adverts in waves of twenty or more; one script run per call cost Redis a few
 * µs of set-up each and the client a command object, an encoding and a reply parse each. A batch is
 * atomic as a whole, which is stronger than the guarantee each call relies on. The script's body is
 * written as for one call (KEYS, ARGV, `return`). Calls are batched per hash tag of their first key
 * (a call's keys share one slot), so a batch never spans Redis Cluster slots.
 */
export function batchedRedisScript(lua: string): RedisScript {
  // The body becomes a function whose parameters shadow the globals KEYS and ARGV. pcall keeps one
  // call's error (WRONGTYPE, a bad number) to that call: a script that raised would abort the
  // calls after it, while those before it had already written.
  const wrapped = `
local function one(KEYS, ARGV)
${lua}
end
local n = tonumber(ARGV[1])
local out = {}
local k, a = 1, 2 + 2 * n
for i = 1, n do
  local nk, na = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local K, A = {}, {}
  for j = 1, nk do K[j] = KEYS[k + j - 1] end
  for j = 1, na do A[j] = ARGV[a + j - 1] end
  k, a = k + nk, a + na
  local ok, res = pcall(one, K, A)
  if ok then
    out[i] = {1, res}
  else
    out[i] = {0, type(res) == 'table' and res.err or tostring(res)}
  end
end
return out
`;
  const script = redisScript(wrapped);
  const pending = new Map<RedisClient, Map<string, Call[]>>();

  function send(redis: RedisClient, calls: readonly Call[]): void {
    // KEYS then ARGV (the number of calls, each call's key and argument counts, then every call's
    // arguments), written once into one array.
    const keys: string[] = [];
    const argv: string[] = [String(calls.length)];
    for (const c of calls) {
      for (const k of c.keys) keys.push(k);
      argv.push(String(c.keys.length), String(c.args.length));
    }
    for (const c of calls) for (const a of c.args) argv.push(String(a));
    script.run(redis, keys, argv).then(
      (out) => {
        const rows = out as Array<[number, unknown]>;
        calls.forEach((c, i) => {
          const row = rows[i];
          if (row?.[0] === 1) c.resolve(row[1] ?? null);
          else c.reject(new Error(String(row?.[1] ?? "the batched script returned no result for this call")));
        });
      },
      (e: unknown) => {
        for (const c of calls) c.reject(e);
      },
    );
  }

  function flush(redis: RedisClient): void {
    const groups = pending.get(redis) ?? new Map<string, Call[]>();
    pending.delete(redis);
    for (const calls of groups.values()) for (let i = 0; i < calls.length; i += MAX_SCRIPT_BATCH) send(redis, calls.slice(i, i + MAX_SCRIPT_BATCH));
  }

  return {
    sha: script.sha,
    run(redis, keys, args) {
      return new Promise((resolve, reject) => {
        let groups = pending.get(redis);
        if (!groups) {
          groups = new Map();
          pending.set(redis, groups);
          // After the turn's microtasks: every advert of a NATS read has made its call by then.
          process.nextTick(flush, redis);
        }
        const tag = slotTag(keys[0] ?? "");
        let calls = groups.get(tag);
        if (!calls) groups.set(tag, (calls = []));
        calls.push({ keys, args, resolve, reject });
      });
    },
  };
}
