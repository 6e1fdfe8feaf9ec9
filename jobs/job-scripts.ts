// The one loader of jobs/ Lua scripts. Each script is a file in scripts/ named `<name>-<number of
// fixed KEYS>.lua` (BullMQ's convention), its KEYS listed at its top. At load time `--@include x`
// pastes scripts/x.lua (the fencing check lives once, in fence.lua) and `--@FINAL_SET`,
// `--@FINAL_LIST`, `--@REPORTING_SET` become lifecycle.ts's lists, so no script spells a state list,
// and `--@PILOT_TOKEN_USE` the pilot token's use, whose owner is security/pilot-token-store.ts.
//
// Every script touches one Redis Cluster hash slot: a site shard or a task shard (keys.ts). A script
// names every key it touches in KEYS (none is built inside Lua), and `run` refuses a call whose
// keys do not share one hash tag, so a layout mistake fails on a single server too, not only with
// CROSSSLOT on a cluster.
import { readFileSync } from "node:fs";
import { batchedRedisScript, redisScript, sameSlot, type RedisClient, type RedisScript } from "../platform/redis-script.ts";
import { PILOT_TOKEN_USE_LUA } from "../security/index.ts";
import { FINAL_STATES, REPORTING_STATES } from "./lifecycle.ts";

const DIR = new URL("./scripts/", import.meta.url);

const luaSet = (xs: readonly string[]): string => xs.map((s) => `['${s}'] = true`).join(", ");
const luaList = (xs: readonly string[]): string => xs.map((s) => `'${s}'`).join(", ");

export function loadLua(file: string): string {
  const text = readFileSync(new URL(`${file}.lua`, DIR), "utf8");
  return text
    .replace(/^--@include (\S+)$/gm, (_, name: string) => loadLua(name))
    .replaceAll("--@FINAL_SET", luaSet(FINAL_STATES))
    .replaceAll("--@FINAL_LIST", luaList(FINAL_STATES))
    .replaceAll("--@REPORTING_SET", luaSet(REPORTING_STATES))
    .replace(/^--@PILOT_TOKEN_USE$/m, () => PILOT_TOKEN_USE_LUA);
}

/** The fixed number of KEYS a script file declares in its name (`claim-5` → 5). */
export function fixedKeys(file: string): number {
  const m = /-(\d+)$/.exec(file);
  if (!m) throw new Error(`script ${file} is not named <name>-<number of KEYS>`);
  return Number(m[1]);
}

/** Throws unless every key shares the first key's hash tag (one slot). */
export function assertOneSlot(file: string, keys: readonly string[]): void {
  for (const k of keys) if (!sameSlot(k, keys[0])) throw new Error(`script ${file}: key ${k} is outside the slot of ${keys[0]}`);
}

/** `batched`: calls made in one event-loop turn (per hash slot) run as one EVALSHA (platform/redis-script.ts). */
export function jobScript(file: string, o: { batched?: boolean } = {}): RedisScript {
  const lua = loadLua(file);
  const inner = o.batched ? batchedRedisScript(lua) : redisScript(lua);
  const min = fixedKeys(file);
  return {
    sha: inner.sha,
    run(redis: RedisClient, keys, args) {
      if (keys.length < min) return Promise.reject(new Error(`script ${file} needs at least ${min} keys, got ${keys.length}`));
      try {
        assertOneSlot(file, keys);
      } catch (e) {
        return Promise.reject(e);
      }
      return inner.run(redis, keys, args);
    },
  };
}
