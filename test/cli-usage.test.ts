// `wms` usage errors as a user meets them: the real binary, one coded line, exit 2; a port
// already taken is its own code (the in-process cases over every command: cli-usage.unit.test.ts).
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR } from "../schemas/index.ts";
import { runCli } from "./support/run-cli.ts";
import { roleEnv } from "./support/test-roles.ts";
import { expectUsageError } from "./support/usage-error-line.ts";

describe("wms usage errors from the real binary", () => {
  let holder: Server;
  let busyPort = 0;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    busyPort = (holder.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  });

  it("prints one coded line and exits 2 on usage errors, 1 on a port in use", async () => {
    const [missing, unknown, badPort, inUse] = await Promise.all([
      runCli(["pki", "init"]),
      runCli(["task", "frobnicate"]),
      runCli(["monitor", "--port", "http"]),
      // `wms monitor` as the monitor it is: it opens Redis before it binds its port.
      runCli(["monitor", "--port", String(busyPort)], { env: { ...roleEnv("monitor"), WMS_LOG_LEVEL: "silent" } }),
    ]);
    for (const [r, code] of [[missing, ERR.USAGE], [unknown, ERR.USAGE], [badPort, ERR.BAD_PORT]] as const) expectUsageError(r, r.stderr, code);
    expect(inUse.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(new RegExp(`^wms: error E${ERR.PORT_IN_USE} PORT_IN_USE: .*127\\.0\\.0\\.1:${busyPort}`))]);
    expect(inUse.code).toBe(1);
  }, 60_000);
});
