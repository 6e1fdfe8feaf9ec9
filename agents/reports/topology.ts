// The whole RabbitMQ topology for reports, declared in one place. Publishers and consumers both call
// it on every (re)connect: the declarations are idempotent, and a publisher that declares the queues
// itself never publishes into an exchange with nothing bound (a topic exchange drops unroutable
// messages, which would lose reports sent before any agent ever started).
import type { Channel } from "amqplib";
import type { ReportKind, WireNames } from "../../schemas/index.ts";

/** Which report kinds each consumer queue receives. */
export type ReportQueue = "jobState" | "errors" | "accounting" | "audit";

export const QUEUE_KINDS: Readonly<Record<ReportQueue, readonly ReportKind[]>> = {
  jobState: ["state"],
  errors: ["error"],
  accounting: ["accounting"],
  audit: ["audit"],
};

export function routingKeyFor(names: WireNames, kind: ReportKind): string {
  return names.rabbit.routingKeys[kind];
}

export async function declareTopology(channel: Channel, names: WireNames): Promise<void> {
  const r = names.rabbit;
  await channel.assertExchange(r.reportsExchange, "topic", { durable: true });
  // Fanout: every dead letter lands in the one dead-letter queue whatever its original routing key.
  await channel.assertExchange(r.deadLetterExchange, "fanout", { durable: true });
  await channel.assertQueue(r.queues.deadLetter, { durable: true });
  await channel.bindQueue(r.queues.deadLetter, r.deadLetterExchange, "");
  for (const [queue, kinds] of Object.entries(QUEUE_KINDS) as [ReportQueue, readonly ReportKind[]][]) {
    const name = r.queues[queue];
    await channel.assertQueue(name, { durable: true, arguments: { "x-dead-letter-exchange": r.deadLetterExchange } });
    for (const kind of kinds) await channel.bindQueue(name, r.reportsExchange, routingKeyFor(names, kind));
  }
}

/** Removes everything declareTopology made (tests and `wms agents` never share a namespace). */
export async function deleteTopology(channel: Channel, names: WireNames): Promise<void> {
  const r = names.rabbit;
  for (const q of Object.values(r.queues)) await channel.deleteQueue(q);
  await channel.deleteExchange(r.reportsExchange);
  await channel.deleteExchange(r.deadLetterExchange);
}
