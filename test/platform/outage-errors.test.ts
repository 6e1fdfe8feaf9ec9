// A server that is away is a retryable SERVICE_UNAVAILABLE for the user, not INTERNAL: the errors
// real clients throw then (ioredis, nats.js, node's sockets) are recognised by toWmsError.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { ERR, errorEntry, isOutage, toWmsError } from "../../schemas/index.ts";
import { freePort, startPrivateRedis } from "../../platform/local-services.ts";
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
