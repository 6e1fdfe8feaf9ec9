// A server that is away is a retryable SERVICE_UNAVAILABLE for the user, not INTERNAL: the errors
// real clients throw then (ioredis, nats.js, node's sockets) are recognised by toWmsError.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { ERR, errorEntry, isOutage, toWmsError } from "../../schemas/index.ts";
import { freePort, launchProcessGroup, startPrivateRedis } from "../../platform/local-services.ts";
import { testConfig } from "../support/namespace.ts";
import { openNatsAs, openRedisAs } from "../support/live-services.ts";

describe("errors of a server that is away", () => {
  it("ioredis with nobody listening gives SERVICE_UNAVAILABLE, which the retry rules retry", async () => {
    const port = await freePort();
    const redis = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1, retryStrategy: () => 50, lazyConnect: false });
    redis.on("error", () => undefined);
    const e = await redis.get("k").then(
      () => undefined,
      (err: unknown) => err,
    );
    redis.disconnect();
    const w = toWmsError(e);
    expect(w.code).toBe(ERR.SERVICE_UNAVAILABLE);
    expect(errorEntry(w.code)?.retryable).toBe(true);
    // Said as what happened to Redis, not in ioredis's option names ('wms task status --watch' through a 'wms down').
    expect((e as Error).name).toBe("MaxRetriesPerRequestError");
    expect(w.detail).toBe("Redis stopped answering (the connection was lost and the command given up after its retries)");
  });

  it("a command on a closed ioredis connection, and a NATS request nobody answers, give SERVICE_UNAVAILABLE", async () => {
    // What an operator's `wms` meets: its Redis connection gone, and a task submitted while no
    // intake runs (a namespace of its own, so nobody serves its subjects).
    const loaded = testConfig("outage");
    const redis = openRedisAs(loaded, "operator");
    await redis.ping();
    redis.disconnect();
    const closed = await redis.get(loaded.names.redisKey("k")).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(toWmsError(closed).code).toBe(ERR.SERVICE_UNAVAILABLE);

    const nc = await openNatsAs(loaded, "operator", "outage-errors");
    const none = await nc.request(loaded.names.subjects.intakeSubmit, new Uint8Array(), { timeout: 10_000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    await nc.close();
    expect(toWmsError(none).code).toBe(ERR.SERVICE_UNAVAILABLE);
  });

  it("a write the identity may not make is SERVICE_PERMISSION_DENIED, not retried as an outage", async () => {
    // A private Redis this test starts with an ACL of its own: one user that may only read.
    const dir = mkdtempSync(join(tmpdir(), "wms-noperm-"));
    const aclFile = join(dir, "users.acl");
    writeFileSync(aclFile, "user default off\nuser reader on >reader-pw ~* +@read +@connection\n");
    const server = await startPrivateRedis(join(dir, "redis"), { aclFile });
    const redis = new Redis({ host: "127.0.0.1", port: server.port, username: "reader", password: "reader-pw", maxRetriesPerRequest: 1 });
    try {
      expect(await redis.get("k")).toBeNull();
      const refused = await redis.set("k", "v").then(
        () => undefined,
        (err: unknown) => err,
      );
      const w = toWmsError(refused);
      expect(w.code).toBe(ERR.SERVICE_PERMISSION_DENIED);
      expect(w.toLine()).toMatch(/^E1013 SERVICE_PERMISSION_DENIED: .*NOPERM/);
      expect(isOutage(refused)).toBe(false);
      // The same write in a transaction: Redis discards it (EXECABORT); the cause is the refusal.
      const discarded = await redis.multi().set("k", "v").exec().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect((discarded as Error).message).toMatch(/^EXECABORT/);
      expect(toWmsError(discarded).code).toBe(ERR.SERVICE_PERMISSION_DENIED);
    } finally {
      redis.disconnect();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a Redis node that will not serve a command for now (a cluster slot unserved, a replica, a replica without its master) gives SERVICE_UNAVAILABLE, as a Cluster client that gave up does", async () => {
    // What a service meets while a Redis Cluster fails over (a credential retrieval answered E1000
    // INTERNAL, its job's attempt spent, where the pilot asks again on E1003). Two private servers:
    // a cluster-enabled node that serves no slot (CLUSTERDOWN), and a plain one made the replica of
    // a master that is not there (READONLY on a write; MASTERDOWN on a read without stale data).
    const dir = mkdtempSync(join(tmpdir(), "wms-refusals-"));
    const clusterPort = await freePort();
    const node = launchProcessGroup("redis-server", ["--port", String(clusterPort), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf")]);
    const replica = await startPrivateRedis(join(dir, "replica"));
    const c = new Redis({ port: clusterPort, host: "127.0.0.1", maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    const r = new Redis({ port: replica.port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
    c.on("error", () => undefined);
    const refusal = (p: Promise<unknown>): Promise<unknown> => p.then(() => new Error("answered"), (err: unknown) => err);
    try {
      await expect.poll(() => c.ping().catch(() => "down"), { timeout: 15_000 }).toBe("PONG");
      const clusterDown = await refusal(c.set("k", "v"));
      expect(String(clusterDown)).toMatch(/^ReplyError: CLUSTERDOWN /);
      await r.call("REPLICAOF", "127.0.0.1", String(await freePort()));
      const readOnly = await refusal(r.set("k", "v"));
      await r.config("SET", "replica-serve-stale-data", "no");
      const masterDown = await refusal(r.get("k"));
      // ioredis's Cluster client, its redirections used up, words it so (cluster/index.js, handleError).
      const gaveUp = new Error(`Too many Cluster redirections. Last error: ${String(clusterDown)}`);
      const lines = [clusterDown, readOnly, masterDown, gaveUp].map((e) => toWmsError(e).toLine());
      expect(lines).toEqual([
        expect.stringMatching(/^E1003 SERVICE_UNAVAILABLE: .*: CLUSTERDOWN /),
        expect.stringMatching(/^E1003 SERVICE_UNAVAILABLE: .*: READONLY /),
        expect.stringMatching(/^E1003 SERVICE_UNAVAILABLE: .*: MASTERDOWN /),
        expect.stringMatching(/^E1003 SERVICE_UNAVAILABLE: .*: Too many Cluster redirections\. Last error: ReplyError: CLUSTERDOWN /),
      ]);
      expect(lines.every((l) => !l.includes("\n"))).toBe(true);
      expect(errorEntry(ERR.SERVICE_UNAVAILABLE)?.retryable).toBe(true);
    } finally {
      c.disconnect();
      r.disconnect();
      await node.stop("SIGKILL");
      await replica.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it("keeps a port in use, and anything else, apart", async () => {
    const a = createServer();
    await new Promise<void>((r) => a.listen(0, "127.0.0.1", r));
    const port = (a.address() as { port: number }).port;
    const b = createServer();
    const inUse = await new Promise<unknown>((r) => {
      b.once("error", r);
      b.listen(port, "127.0.0.1");
    });
    a.close();
    expect(toWmsError(inUse).code).toBe(ERR.PORT_IN_USE);
    expect(toWmsError(new TypeError("x is not a function")).code).toBe(ERR.INTERNAL);
    expect(toWmsError("plain text").toLine()).toContain("plain text");
  });
});
