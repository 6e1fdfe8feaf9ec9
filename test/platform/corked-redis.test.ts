import { afterAll, describe, expect, it } from "vitest";
import { openRedis } from "../../platform/connections.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";

// The matchmaker's connection writes each command into a socket corked until the end of the turn.
// What its callers rely on: every command answered, in the order made, within a turn and across
// turns, and a connection that drops comes back without stranding what was corked.
const { config, names } = testConfig("corked");
const redis = openRedis(config, { corked: true });
const admin = openRedis(config);
const key = (k: string): string => names.redisKey("ck", k);

afterAll(async () => {
  await deleteNamespaceKeys(admin, config.namespace);
  redis.disconnect();
  admin.disconnect();
});

describe("a corked Redis connection", () => {
  it("answers every command of one turn, applied in the order made", async () => {
    const got = await Promise.all(Array.from({ length: 50 }, () => redis.incr(key("a"))));
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it("answers commands made in turns one after another, each in its own write", async () => {
    for (let i = 1; i <= 20; i++) expect(await redis.rpush(key("list"), String(i))).toBe(i);
    expect(await redis.lrange(key("list"), 0, -1)).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
  });

  it("reconnects after its connection is killed and answers what comes next", async () => {
    await redis.set(key("b"), "before");
    const id = await redis.client("ID");
    await admin.client("KILL", "ID", String(id));
    // The commands of this turn were corked on a socket that is gone or going: each is answered.
    const results = await Promise.all([redis.set(key("b"), "after"), redis.get(key("b"))]);
    expect(results).toEqual(["OK", "after"]);
    expect(await redis.client("ID")).not.toBe(id);
  });
});
