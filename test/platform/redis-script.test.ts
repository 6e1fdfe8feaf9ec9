import { afterAll, describe, expect, it } from "vitest";
import { openRedis } from "../../platform/connections.ts";
import { batchedRedisScript, MAX_SCRIPT_BATCH } from "../../platform/redis-script.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole } from "../support/test-roles.ts";

// Calls made in one turn share one EVALSHA; each must still get its own result or error, in order.
// As matchmaker: scripts run as a service role (Redis checks ACLs inside scripts too).
const { config, names } = asRole(testConfig("redisscript"), "matchmaker");
const redis = openRedis(config);
const key = (k: string): string => names.redisKey("rs", k);

// INCRBY a counter, and say how many times this run was entered so far (to prove batching).
const incr = batchedRedisScript(`
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
return {v, ARGV[2] or ''}
`);

afterAll(async () => {
  await deleteNamespaceKeys(redis, config.namespace);
  redis.disconnect();
});

describe("batched Redis scripts", () => {
  it("answers every call of one turn with its own result, applied in call order", async () => {
    const before = await redis.info("commandstats");
    const evalshaCalls = (info: string): number => Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(info)?.[1] ?? 0);
    const got = await Promise.all(Array.from({ length: 10 }, (_, i) => incr.run(redis, [key("a")], [i + 1, `call${i}`])));
    // Running totals 1, 3, 6, ...: each call saw the writes of the calls before it.
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => [((i + 1) * (i + 2)) / 2, `call${i}`]));
    // One script run for the ten (the server-wide counter may also count other tests' calls).
    const after = await redis.info("commandstats");
    expect(evalshaCalls(after) - evalshaCalls(before)).toBeLessThan(10);
  });

  it("keeps one call's error to that call: the calls after it still run", async () => {
    await redis.set(key("text"), "not a number");
    const results = await Promise.allSettled([
      incr.run(redis, [key("b")], [1]),
      incr.run(redis, [key("text")], [1]),
      incr.run(redis, [key("b")], ["x"]),
      incr.run(redis, [key("b")], [5]),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason.message).toMatch(/not an integer/);
    expect((results[3] as PromiseFulfilledResult<unknown>).value).toEqual([6, ""]);
    expect(await redis.get(key("b"))).toBe("6");
  });

  it("splits a burst larger than one run carries, and loses no call", async () => {
    const n = MAX_SCRIPT_BATCH * 2 + 3;
    const got = (await Promise.all(Array.from({ length: n }, () => incr.run(redis, [key("c")], [1])))) as Array<[number, string]>;
    expect(got.map((r) => r[0])).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it("works on a server that has not seen the script yet (NOSCRIPT, then EVAL)", async () => {
    // A script text no server has cached; SCRIPT FLUSH would disturb the tests running alongside.
    const fresh = batchedRedisScript(`-- ${names.redisKey("fresh")}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`);
    expect(await redis.script("EXISTS", fresh.sha)).toEqual([0]);
    expect(await Promise.all([fresh.run(redis, [key("d")], [2]), fresh.run(redis, [key("d")], [3])])).toEqual([2, 5]);
  });
});
