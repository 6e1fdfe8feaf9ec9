// A server that is away is a retryable SERVICE_UNAVAILABLE for the user, not INTERNAL: the errors
// real clients throw then (ioredis, nats.js, node's sockets) are recognised by toWmsError.
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { connect } from "nats";
import { ERR, errorEntry, toWmsError } from "../../schemas/index.ts";
import { freePort } from "../../platform/local-services.ts";

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
  });

  it("a command on a closed ioredis connection, and a NATS request nobody answers, give SERVICE_UNAVAILABLE", async () => {
    const redis = new Redis({ host: "127.0.0.1", port: 6379 });
    await redis.ping();
    redis.disconnect();
    const closed = await redis.get("k").then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(toWmsError(closed).code).toBe(ERR.SERVICE_UNAVAILABLE);

    const nc = await connect({ servers: "127.0.0.1:4222" });
    const none = await nc.request(`wms.test.nobody.${Date.now()}`, new Uint8Array(), { timeout: 2000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    await nc.close();
    expect(toWmsError(none).code).toBe(ERR.SERVICE_UNAVAILABLE);
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
