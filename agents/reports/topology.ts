// The whole RabbitMQ topology for reports, declared in one place. Publishers and consumers both call
// it on every (re)connect: the declarations are idempotent, and a publisher that declares the queues
// itself never publishes into an exchange with nothing bound (a topic exchange drops unroutable
// messages, which would lose reports sent before any agent ever started).
import type { Channel, ChannelModel } from "amqplib";
import { ERR, WmsError, type ReportKind, type WireNames } from "../../schemas/index.ts";

/** Which report kinds each consumer queue receives. */
export type ReportQueue = "jobState" | "errors" | "accounting" | "audit" | "logs";

export const QUEUE_KINDS: Readonly<Record<ReportQueue, readonly ReportKind[]>> = {
  jobState: ["state"],
  errors: ["error"],
  accounting: ["accounting"],
  audit: ["audit"],
  logs: ["log"],
};

export function routingKeyFor(names: WireNames, kind: ReportKind): string {
  return names.rabbit.routingKeys[kind];
}

/**
 * Quorum queues (Raft-replicated, RabbitMQ's queue type for data that must survive a node): reports
 * must never be lost, and in a cluster a classic queue lives on one node. Dead letters leave a
 * queue at-least-once (the broker keeps a message until the dead-letter queue confirms it), which
 * RabbitMQ allows only with `reject-publish` overflow: a full queue refuses new publishes, so the
 * publisher's confirm fails and the report stays in its spool instead of the oldest being dropped.
 */
export function reportQueueArguments(names: WireNames): Record<string, unknown> {
  return {
    "x-queue-type": "quorum",
    "x-dead-letter-exchange": names.rabbit.deadLetterExchange,
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
  };
}

/** The dead-letter queue is the end of the line: quorum too, and it takes everything. */
export function deadLetterQueueArguments(): Record<string, unknown> {
  return { "x-queue-type": "quorum" };
}

/**
 * Declares (idempotently: the same arguments every time) the exchanges, quorum queues and bindings.
 * A queue that already exists with other arguments (a classic queue from an older release) is a
 * 406 PRECONDITION_FAILED from the broker; it is reported as E1002 with the way out (README).
 */
export async function declareTopology(channel: Channel, names: WireNames): Promise<void> {
  const r = names.rabbit;
  try {
    await channel.assertExchange(r.reportsExchange, "topic", { durable: true });
    // Fanout: every dead letter lands in the one dead-letter queue whatever its original routing key.
    await channel.assertExchange(r.deadLetterExchange, "fanout", { durable: true });
    await channel.assertQueue(r.queues.deadLetter, { durable: true, arguments: deadLetterQueueArguments() });
    await channel.bindQueue(r.queues.deadLetter, r.deadLetterExchange, "");
    for (const [queue, kinds] of Object.entries(QUEUE_KINDS) as [ReportQueue, readonly ReportKind[]][]) {
      const name = r.queues[queue];
      await channel.assertQueue(name, { durable: true, arguments: reportQueueArguments(names) });
      for (const kind of kinds) await channel.bindQueue(name, r.reportsExchange, routingKeyFor(names, kind));
    }
  } catch (e) {
    const msg = (e as Error).message;
    if (/PRECONDITION_FAILED.*inequivalent arg/.test(msg)) {
      throw new WmsError(
        ERR.BAD_CONFIG,
        `RabbitMQ already holds a report queue declared differently (${msg.split(" - ")[1] ?? msg}); a classic queue cannot become a quorum queue in place: drain and delete it, then restart (agents/reports/README.md, "Migrating from classic queues")`,
      );
    }
    throw e;
  }
}

/**
 * For identities that may publish but not configure (pilots, the credential cache): checks that
 * the exchange and every queue exist (passive declares need no configure permission), so a report
 * is never published into an exchange with nothing bound. A missing one fails the publish; the
 * publisher keeps the report in its spool until the agents have declared the topology.
 */
export async function checkTopology(channel: Channel, names: WireNames): Promise<void> {
  const r = names.rabbit;
  await channel.checkExchange(r.reportsExchange);
  for (const queue of Object.keys(QUEUE_KINDS) as ReportQueue[]) await channel.checkQueue(r.queues[queue]);
}

/** Removes everything declareTopology made (tests and `wms agents` never share a namespace). */
export async function deleteTopology(channel: Channel, names: WireNames): Promise<void> {
  const r = names.rabbit;
  for (const q of Object.values(r.queues)) await channel.deleteQueue(q);
  await channel.deleteExchange(r.reportsExchange);
  await channel.deleteExchange(r.deadLetterExchange);
}

/** What a purge found: the names it deleted, and those that were not there to delete. */
export interface TopologyPurge {
  readonly queues: { readonly deleted: readonly string[]; readonly absent: readonly string[]; readonly messagesDropped: number };
  readonly exchanges: { readonly deleted: readonly string[]; readonly absent: readonly string[] };
}

const isNotFound = (e: unknown): boolean => (e as { code?: unknown }).code === 404;

/**
 * deleteTopology for `wms down --purge`, saying what it did: queue.delete and exchange.delete
 * answer ok for a name that does not exist, so each name is first looked up with a passive declare
 * (a 404 closes its channel, hence one channel per name) and reported deleted or absent.
 */
export async function purgeTopology(conn: ChannelModel, names: WireNames): Promise<TopologyPurge> {
  const r = names.rabbit;
  const queues = { deleted: [] as string[], absent: [] as string[], messagesDropped: 0 };
  const exchanges = { deleted: [] as string[], absent: [] as string[] };
  const each = async (name: string, f: (ch: Channel) => Promise<void>, into: { deleted: string[]; absent: string[] }): Promise<void> => {
    const ch = await conn.createChannel();
    ch.on("error", () => undefined);
    try {
      await f(ch);
      into.deleted.push(name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      into.absent.push(name);
    } finally {
      await ch.close().catch(() => undefined);
    }
  };
  for (const q of Object.values(r.queues)) {
    await each(
      q,
      async (ch) => {
        await ch.checkQueue(q);
        queues.messagesDropped += (await ch.deleteQueue(q)).messageCount;
      },
      queues,
    );
  }
  for (const x of [r.reportsExchange, r.deadLetterExchange]) {
    await each(
      x,
      async (ch) => {
        await ch.checkExchange(x);
        await ch.deleteExchange(x);
      },
      exchanges,
    );
  }
  return { queues, exchanges };
}
