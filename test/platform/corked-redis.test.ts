import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRedis } from "../../platform/connections.ts";
import type { RedisClient } from "../../platform/redis-client.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole } from "../support/test-roles.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";

// The matchmaker's connection writes each command into a socket corked until the end of the turn.
// What its callers rely on: every command answered, in the order made, within a turn and across
// turns, and a connection that drops comes back without stranding what was corked. As the
// matchmaker (its Redis identity on authenticated servers), through a TCP proxy that can cut the
// connection as a server or network would: no role may kill another's connection (CLIENT KILL is
// an admin command), and this test needs none.
const loaded = asRole(testConfig("corked"), "matchmaker");
const { config, names } = loaded;
const key = (k: string): string => names.redisKey("ck", k);
let proxy: TcpProxy;
let redis: RedisClient;
let direct: RedisClient;

beforeAll(async () => {
  const target = new URL(config.redis.url);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 6379));
  const viaProxy = new URL(config.redis.url);
  viaProxy.port = String(proxy.port);
  redis = openRedis({ ...config, redis: { ...config.redis, url: viaProxy.toString() } }, { corked: true });
  direct = openRedis(config);
});

afterAll(async () => {
  await deleteNamespaceKeys(direct, config.namespace);
  redis?.disconnect();
  direct?.disconnect();
  await proxy?.stop();
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

  it("reconnects after its connection is cut and answers what comes next", async () => {
    await redis.set(key("b"), "before");
    const id = await redis.client("ID");
    // The connection cut from the far side, the proxy listening again at once.
    await proxy.stop();
    await proxy.start();
    // The commands of this turn were corked on a socket that is gone or going: each is answered.
    const results = await Promise.all([redis.set(key("b"), "after"), redis.get(key("b"))]);
    expect(results).toEqual(["OK", "after"]);
    expect(await redis.client("ID")).not.toBe(id);
    expect(await direct.get(key("b"))).toBe("after");
  });
});
