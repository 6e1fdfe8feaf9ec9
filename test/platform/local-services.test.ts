import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ensureServices, freePort, startPrivateNats, startPrivateRabbit, startPrivateRedis } from "../../platform/local-services.ts";
import { checkNats, checkRabbit, checkRedis } from "../../platform/service-check.ts";

// The demo's promise: where a service does not answer, it starts a private one and stops it after.
// Every server here is a private, anonymous instance the test starts (and stops) itself: what is
// under test is starting and stopping them; the test run's own servers are never used.
const dirs: string[] = [];
const tempDir = (prefix: string): string => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("private local services for the demo", () => {
  it("starts a private Redis and NATS on ports of their own and stops them again", async () => {
    const dir = tempDir("wms-svc-");
    const redis = await startPrivateRedis(join(dir, "redis"));
    const nats = await startPrivateNats(join(dir, "nats"));
    expect(redis.url).not.toBe("redis://127.0.0.1:6379");
    expect((await checkRedis(redis.url)).up).toBe(true);
    expect((await checkNats(nats.url)).up).toBe(true);
    await redis.stop();
    await nats.stop();
    expect((await checkRedis(redis.url, 500)).up).toBe(false);
    expect((await checkNats(nats.url, 500)).up).toBe(false);
  });

  it("starts a private RabbitMQ node with its own data folder and port mapper, and stops both", async () => {
    const dir = tempDir("wms-rmq-");
    const rabbit = await startPrivateRabbit(dir);
    expect((await checkRabbit(rabbit.url)).up).toBe(true);
    // The node and an epmd of its own, not the machine's (one the node would start itself outlives it).
    expect(rabbit.pids).toHaveLength(2);
    const epmdPid = rabbit.pids.find((p) => p !== rabbit.pid) as number;
    expect(readFileSync(`/proc/${epmdPid}/cmdline`, "utf8")).toMatch(/epmd/);
    await rabbit.stop();
    expect((await checkRabbit(rabbit.url, 1000)).up).toBe(false);
    for (const pid of rabbit.pids) expect(existsSync(`/proc/${pid}`), `pid ${pid}`).toBe(false);
  }, 90_000);

  it("uses the services that already answer and starts only the missing one, named without its password", async () => {
    const dir = tempDir("wms-ens-");
    // ensureServices asks each URL anonymously and starts anonymous servers beside anonymous ones,
    // so the two that answer are anonymous too: private instances this test starts, never the
    // machine's or the test run's (those admit no anonymous client with authentication on).
    const [nats, redis] = await Promise.all([startPrivateNats(join(dir, "nats")), startPrivateRedis(join(dir, "redis"))]);
    const deadRabbit = `amqp://127.0.0.1:${await freePort()}`;
    try {
      const s = await ensureServices({ nats: nats.url, redis: redis.url, rabbitmq: deadRabbit }, join(dir, "ensure"));
      try {
        expect(s.started).toHaveLength(1);
        expect(s.started[0]).toMatch(/^rabbitmq \(amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+\)$/);
        expect(s.urls.nats).toBe(nats.url);
        expect(s.urls.redis).toBe(redis.url);
        expect(s.urls.rabbitmq).not.toBe(deadRabbit);
        expect((await checkRabbit(s.urls.rabbitmq)).up).toBe(true);
      } finally {
        await s.stop();
      }
      expect((await checkRabbit(s.urls.rabbitmq, 1000)).up).toBe(false);
    } finally {
      await Promise.all([nats.stop(), redis.stop()]);
    }
  }, 120_000);
});
