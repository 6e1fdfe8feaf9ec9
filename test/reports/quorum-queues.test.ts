// The report queues are quorum queues with at-least-once dead-lettering, declared idempotently,
// and a classic queue left by an older release is named with the way out instead of crashing.
import amqp from "amqplib";
import { afterAll, describe, expect, it } from "vitest";
import { declareTopology, reportQueueArguments } from "../../agents/reports/index.ts";
import { ERR, isWmsError } from "../../schemas/index.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole, roleRabbitUrl } from "../support/test-roles.ts";
import { removeTopology, waitFor, withChannel } from "./support/rabbit-fixture.ts";

// The agents' identity: they declare the reports topology, consume it and may publish to it (dead
// letters), so the publishers and raw readers here log in as the agents do (pilots may only publish
// into a topology that exists: report-publisher.test.ts checks that with the pilot's identity).
const loaded = asRole(testConfig("quorum"), "agents");
const { names } = loaded;
const url = roleRabbitUrl(loaded, "agents");
const classic = testConfig("quorumclassic").names;

afterAll(async () => {
  await removeTopology(url, names).catch(() => undefined);
  await removeTopology(url, classic).catch(() => undefined);
});

/** Whether redeclaring `queue` with these arguments is refused (406 closes the channel). */
async function redeclareRefused(queue: string, args: Record<string, unknown>): Promise<boolean> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    ch.on("error", () => undefined);
    await ch.assertQueue(queue, { durable: true, arguments: args });
    return false;
  } catch (e) {
    return /PRECONDITION_FAILED/.test((e as Error).message);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

describe("report queues", () => {
  it("are declared as quorum queues, and declaring them again changes nothing", async () => {
    await withChannel(url, (ch) => declareTopology(ch, names));
    await withChannel(url, (ch) => declareTopology(ch, names));
    const q = names.rabbit.queues.jobState;
    // The broker refuses a declaration whose type or overflow differs from the existing queue's.
    expect(await redeclareRefused(q, { ...reportQueueArguments(names), "x-queue-type": "classic" })).toBe(true);
    expect(await redeclareRefused(q, { ...reportQueueArguments(names), "x-overflow": "drop-head" })).toBe(true);
    expect(await redeclareRefused(q, reportQueueArguments(names))).toBe(false);
  });

  it("dead-letters a rejected report into the dead-letter queue (at-least-once)", async () => {
    await withChannel(url, (ch) => declareTopology(ch, names));
    await withChannel(url, async (ch) => {
      ch.publish(names.rabbit.reportsExchange, names.rabbit.routingKeys.audit, Buffer.from("poison"), { persistent: true, messageId: "dl-1" });
    });
    const conn = await amqp.connect(url);
    try {
      const ch = await conn.createChannel();
      let got: amqp.GetMessage | false = false;
      await waitFor(async () => (got = await ch.get(names.rabbit.queues.audit, { noAck: false })) !== false, 10_000, "the report in its queue");
      if (got === false) throw new Error("unreachable");
      ch.nack(got, false, false);
      let dead: amqp.GetMessage | false = false;
      await waitFor(async () => (dead = await ch.get(names.rabbit.queues.deadLetter, { noAck: true })) !== false, 10_000, "the dead letter");
      if (dead === false) throw new Error("unreachable");
      expect((dead as amqp.GetMessage).properties.messageId).toBe("dl-1");
    } finally {
      await conn.close();
    }
  });

  it("names a classic queue left by an older release with E1002 and the way to migrate", async () => {
    await withChannel(url, async (ch) => {
      await ch.assertQueue(classic.rabbit.queues.jobState, { durable: true, arguments: { "x-dead-letter-exchange": classic.rabbit.deadLetterExchange } });
    });
    let caught: unknown;
    const conn = await amqp.connect(url);
    try {
      const ch = await conn.createChannel();
      ch.on("error", () => undefined);
      await declareTopology(ch, classic).catch((e: unknown) => {
        caught = e;
      });
    } finally {
      await conn.close().catch(() => undefined);
    }
    expect(isWmsError(caught) && caught.code === ERR.BAD_CONFIG).toBe(true);
    expect((caught as Error).message).toMatch(/classic queue cannot become a quorum queue.*Migrating from classic queues/);
  });
});
