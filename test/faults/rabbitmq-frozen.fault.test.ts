// A RabbitMQ node that hangs instead of dying (a paused VM, a partition dropping packets: here a
// private broker SIGSTOPped, the machine's is never touched) closes no socket, so a client learns of
// it only from missed AMQP heartbeats; until then a consumer waits on it and never moves to the next
// node of `rabbitmq.url`. pilot-wms asks for 15 s heartbeats (two missed: 30 s) where RabbitMQ's
// default would take 2 × 60 s.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRabbit, RABBIT_HEARTBEAT_SEC } from "../../platform/connections.ts";
import { loadConfig } from "../../platform/config.ts";
import type { WmsConfig } from "../../schemas/index.ts";
import { startPrivateRabbit, type PrivateRabbit } from "../../platform/local-services.ts";
import { asRole, runServerAuth } from "../support/test-roles.ts";

let root = "";
let rabbit: PrivateRabbit | undefined;
let frozen = false;

/** The agents' RabbitMQ identity (user, password, vhost) on the private broker; none on the shared services. */
const agents = (): Omit<WmsConfig["rabbitmq"], "url"> => ({ ...asRole(loadConfig({ path: undefined, env: { WMS_RABBITMQ_URL: rabbit!.url } }), "agents").config.rabbitmq, declareTopology: true });

const signalNode = (signal: NodeJS.Signals): void => {
  if (rabbit?.pid !== undefined) process.kill(-rabbit.pid, signal);
};

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "wms-rmq-frozen-"));
  const definitionsFile = runServerAuth()?.rabbitDefinitions;
  rabbit = await startPrivateRabbit(join(root, "rabbitmq"), definitionsFile ? { definitionsFile } : {});
}, 120_000);

/** Connects to the private broker at `url`, freezes it, and says how long the client took to see its connection closed. */
async function msUntilClosed(url: string): Promise<number> {
  const conn = await connectRabbit(url, agents());
  conn.on("error", () => undefined);
  const closedAt = new Promise<number>((resolve) => conn.on("close", () => resolve(Date.now())));
  const frozenAt = Date.now();
  signalNode("SIGSTOP");
  frozen = true;
  return (await closedAt) - frozenAt;
}

afterAll(async () => {
  if (frozen) signalNode("SIGCONT");
  await rabbit?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe("a RabbitMQ node that hangs", () => {
  it("is noticed by a connected client within two heartbeats, and the connection closes", async () => {
    const waitedMs = await msUntilClosed(rabbit!.url);
    // Two checks of the client's timer in a row that saw nothing: 1-3 intervals after the freeze
    // (45 s measured: frozen right after the open, whose frames the first check still counts). The
    // broker's default of 60 s would take more than 60 s.
    expect(waitedMs).toBeGreaterThan(RABBIT_HEARTBEAT_SEC * 1000);
    expect(waitedMs).toBeLessThan(60_000);
  }, 100_000);

  it("a heartbeat named in the URL wins over the default", async () => {
    signalNode("SIGCONT");
    frozen = false;
    try {
      const waitedMs = await msUntilClosed(`${rabbit!.url}?heartbeat=3`);
      // 3-9 s; the default's would be more than 15 s.
      expect(waitedMs).toBeLessThan(RABBIT_HEARTBEAT_SEC * 1000);
    } finally {
      signalNode("SIGCONT");
      frozen = false;
    }
  }, 60_000);
});
