// One way to run our Lua scripts: EVALSHA, falling back to EVAL when the server has not seen the
// script (first use, or after a restart / failover flushed the script cache). Unlike ioredis'
// defineCommand, this is an ordinary command, so it is safe on auto-pipelined connections (a
// pipeline created before defineCommand would lack the custom command and fail). On a Redis
// Cluster, a call refused during a failover (MOVED, CLUSTERDOWN...) is sent again by the client
// itself, as every other command is (redis-failover.ts).
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { Cluster, Command, Redis } from "ioredis";

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
  const flat = flatScript(lua);
  // One array for the script, KEYS and ARGV (ioredis takes it as the command's arguments as they
  // are): the spread form built three more copies of them per call on the matchmaker's per-match path.
  return {
    sha: flat.sha,
    run: (redis, keys, args) => flat.run(redis, commandArgs(keys, args), false),
    runReadOnly: (redis, keys, args) => flat.run(redis, commandArgs(keys, args), true),
  };
}

/**
 * A script run with its whole argument list in one array of strings: two slots for the script (its
 * SHA or its text) and the number of keys, then KEYS, then ARGV. `run` fills the first slot.
 */
interface FlatScript {
  readonly sha: string;
  run(redis: RedisClient, command: string[], readOnly: boolean): Promise<unknown>;
}

// ioredis (CommonJS) is loaded on first use, as in connections.ts: not every process that imports
// a store runs a script.
const requireCjs = createRequire(import.meta.url);
let CommandClass: typeof Command | undefined;

/**
 * Sends `args` as the command's argument list itself. ioredis's command methods copy their
 * arguments with `args.flat()` (a growing copy, about 1 KB of heap per match over the three
 * batched scripts), so on a connection that does not auto-pipeline (the matchmaker's corked one),
 * where those methods would send the command alone anyway, it is built here and sent as it is.
 * Elsewhere the command methods are kept: auto-pipelining and the cluster's routing go through them.
 */
function sendScript(redis: RedisClient, name: "evalsha" | "eval" | "evalsha_ro" | "eval_ro", args: string[]): Promise<unknown> {
  if (redis.isCluster || redis.options.enableAutoPipelining) return redis.call(name, args);
  CommandClass ??= (requireCjs("ioredis") as typeof import("ioredis")).Command;
  const command = new CommandClass(name, [], { replyEncoding: "utf8" });
  command.args = args;
  return redis.sendCommand(command) as Promise<unknown>;
}

function flatScript(lua: string): FlatScript {
  const sha = createHash("sha1").update(lua).digest("hex");
  const once = async (redis: RedisClient, command: string[], readOnly: boolean): Promise<unknown> => {
    command[0] = sha;
    try {
      return await sendScript(redis, readOnly ? "evalsha_ro" : "evalsha", command);
    } catch (e) {
      // Also as ioredis words it once a failover used up its redirections: "Too many Cluster
      // redirections. Last error: ReplyError: NOSCRIPT ..." (a promoted replica has no scripts).
      if (!(e instanceof Error) || !/(?:^|Error: )NOSCRIPT /.test(e.message)) throw e;
      command[0] = lua;
      return sendScript(redis, readOnly ? "eval_ro" : "eval", command);
    }
  };
  return {
    sha,
    run: once,
  };
}

/** The script's slot, the number of keys, KEYS, then ARGV as strings. */
function commandArgs(keys: readonly string[], args: ReadonlyArray<string | number>): string[] {
  const out = new Array<string>(2 + keys.length + args.length);
  out[0] = "";
  out[1] = String(keys.length);
  for (let i = 0; i < keys.length; i++) out[2 + i] = keys[i];
  for (let i = 0; i < args.length; i++) out[2 + keys.length + i] = String(args[i]);
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

/** Where the text Redis Cluster hashes starts in `key` (see `slotTag`). */
function tagStart(key: string): number {
  const a = key.indexOf("{");
  return a >= 0 && key.indexOf("}", a + 1) > a + 1 ? a + 1 : 0;
}

/** Where it ends. */
function tagEnd(key: string, start: number): number {
  return start > 0 ? key.indexOf("}", start) : key.length;
}

/**
 * True when two keys hash by the same text (the same slot on a Redis Cluster), compared in place:
 * checked for every key of every script call, so without cutting either key.
 */
export function sameSlot(a: string, b: string): boolean {
  const as = tagStart(a);
  const bs = tagStart(b);
  const n = tagEnd(a, as) - as;
  if (n !== tagEnd(b, bs) - bs) return false;
  for (let i = 0; i < n; i++) if (a.charCodeAt(as + i) !== b.charCodeAt(bs + i)) return false;
  return true;
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
 * written as for one call (KEYS, ARGV, `return`). On a Redis Cluster, calls are batched per hash tag
 * of their first key (a call's keys share one slot), so a batch never spans slots.
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
  const script = flatScript(wrapped);
  const pending = new Map<RedisClient, Map<string, Call[]>>();

  function send(redis: RedisClient, calls: readonly Call[], from: number, to: number): void {
    // KEYS then ARGV (the number of calls, each call's key and argument counts, then every call's
    // arguments), written once into the one array the command is sent with.
    let numKeys = 0;
    let numArgs = 0;
    for (let i = from; i < to; i++) {
      numKeys += calls[i].keys.length;
      numArgs += calls[i].args.length;
    }
    const flat = new Array<string>(2 + numKeys + 1 + 2 * (to - from) + numArgs);
    flat[0] = "";
    flat[1] = String(numKeys);
    let k = 2;
    let a = 2 + numKeys;
    flat[a++] = String(to - from);
    for (let i = from; i < to; i++) {
      const c = calls[i];
      for (const key of c.keys) flat[k++] = key;
      flat[a++] = String(c.keys.length);
      flat[a++] = String(c.args.length);
    }
    for (let i = from; i < to; i++) for (const arg of calls[i].args) flat[a++] = typeof arg === "string" ? arg : String(arg);
    script.run(redis, flat, false).then(
      (out) => {
        const rows = out as Array<[number, unknown]>;
        for (let i = from; i < to; i++) {
          const c = calls[i];
          const row = rows[i - from];
          if (row?.[0] === 1) c.resolve(row[1] ?? null);
          else c.reject(new Error(String(row?.[1] ?? "the batched script returned no result for this call")));
        }
      },
      (e: unknown) => {
        for (let i = from; i < to; i++) calls[i].reject(e);
      },
    );
  }

  function flush(redis: RedisClient): void {
    const groups = pending.get(redis) ?? new Map<string, Call[]>();
    pending.delete(redis);
    for (const calls of groups.values()) for (let i = 0; i < calls.length; i += MAX_SCRIPT_BATCH) send(redis, calls, i, Math.min(calls.length, i + MAX_SCRIPT_BATCH));
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
        // A single server has no slots: every call of the turn goes in one run.
        const tag = redis.isCluster ? slotTag(keys[0] ?? "") : "";
        let calls = groups.get(tag);
        if (!calls) groups.set(tag, (calls = []));
        calls.push({ keys, args, resolve, reject });
      });
    },
  };
}
