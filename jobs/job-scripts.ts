// The one loader of jobs/ Lua scripts. Each script is a file in scripts/ named `<name>-<number of
// fixed KEYS>.lua` (BullMQ's convention), its KEYS listed at its top. At load time `--@include x`
// pastes scripts/x.lua (the fencing check lives once, in fence.lua) and `--@FINAL_SET`,
// `--@FINAL_LIST`, `--@REPORTING_SET` become lifecycle.ts's lists, so no script spells a state list.
import { readFileSync } from "node:fs";
import { batchedRedisScript, redisScript, type RedisScript } from "../platform/redis-script.ts";
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
    .replaceAll("--@REPORTING_SET", luaSet(REPORTING_STATES));
}

/** `batched`: calls made in one event-loop turn run as one EVALSHA (platform/redis-script.ts). */
export function jobScript(file: string, o: { batched?: boolean } = {}): RedisScript {
  const lua = loadLua(file);
  return o.batched ? batchedRedisScript(lua) : redisScript(lua);
}
