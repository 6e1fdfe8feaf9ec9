// Reads what pilots publish, from a queue of the test's own bound to the reports exchange, so the
// test sees every report without competing with any agent.
import { randomBytes } from "node:crypto";
import type amqp from "amqplib";
import type { Report, WireNames } from "../../../schemas/index.ts";

export interface ReportCollector {
  readonly reports: Report[];
  /** Resolves with the first report (already received or still to come) that `pred` accepts. */
  waitFor<R extends Report>(pred: (r: Report) => r is R, timeoutMs?: number): Promise<R>;
  waitFor(pred: (r: Report) => boolean, timeoutMs?: number): Promise<Report>;
  close(): Promise<void>;
}

export async function collectReports(conn: amqp.ChannelModel, names: WireNames): Promise<ReportCollector> {
  const ch = await conn.createChannel();
  // Same declaration as agents/reports/topology.ts, so whichever side comes first makes it.
  await ch.assertExchange(names.rabbit.reportsExchange, "topic", { durable: true });
  // Named under the namespace's reports (not a server-named amq.gen-…): the agents' RabbitMQ user
  // may declare and read only those, and the test reads as the agents do.
  const q = await ch.assertQueue(`${names.rabbit.reportsExchange}.tap-${randomBytes(4).toString("hex")}`, { exclusive: true, autoDelete: true });
  await ch.bindQueue(q.queue, names.rabbit.reportsExchange, "report.#");
  const reports: Report[] = [];
  const waiters: Array<{ pred: (r: Report) => boolean; resolve: (r: Report) => void }> = [];
  await ch.consume(
    q.queue,
    (msg) => {
      if (!msg) return;
      const r = JSON.parse(msg.content.toString()) as Report;
      reports.push(r);
      for (const w of [...waiters]) {
        if (w.pred(r)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(r);
        }
      }
    },
    { noAck: true },
  );
  return {
    reports,
    waitFor(pred: (r: Report) => boolean, timeoutMs = 15_000): Promise<Report> {
      const found = reports.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (r: Report) => (clearTimeout(t), resolve(r)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching report within ${timeoutMs} ms; got ${reports.map((r) => r.kind).join(",")}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    close: async () => {
      await ch.close().catch(() => undefined);
    },
  } as ReportCollector;
}
