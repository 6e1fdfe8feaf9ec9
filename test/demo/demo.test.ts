import { describe, expect, it } from "vitest";
import amqp from "amqplib";
import { loadConfig } from "../../platform/config.ts";
import { runDemo, type DemoOutput } from "../../demo/demo-run.ts";
import { AccountingRecord, type WireNames } from "../../schemas/index.ts";

const quiet: DemoOutput = { info: () => undefined, progress: () => undefined, done: () => undefined };

describe("the demo's scenario, smaller", () => {
  it("finishes every job at a site holding its inputs, and accounting totals equal the sum of the jobs' records", async () => {
    const base = loadConfig({ env: {} });
    // An independent witness: our own queue on the reports exchange collects every accounting record.
    const conn = await amqp.connect(base.config.rabbitmq.url);
    const ch = await conn.createChannel();
    let names: WireNames | undefined;
    const witnessQueue = `witness.${process.pid}.${Date.now()}`;
    const summary = await runDemo(
      {
        jobs: 16, sites: 3, pilots: 3, matchmakers: 2, timeoutSec: 240, keep: false,
        beforeSubmit: async (ctx) => {
          names = ctx.names;
          await ch.assertQueue(witnessQueue, { durable: false, autoDelete: false });
          await ch.bindQueue(witnessQueue, ctx.names.rabbit.reportsExchange, ctx.names.rabbit.routingKeys.accounting);
        },
      },
      base,
      quiet,
      new AbortController().signal,
    );
    expect(names).toBeDefined();
    expect(summary.jobs).toBe(16);
    expect(summary.finished).toBe(16);
    expect(summary.failed).toBe(0);
    expect(summary.dataLocalFraction).toBe(1);
    expect(Object.values(summary.bySite).reduce((a, b) => a + b, 0)).toBe(16);

    const records: AccountingRecord[] = [];
    for (;;) {
      const m = await ch.get(witnessQueue, { noAck: true });
      if (m === false) break;
      records.push(AccountingRecord.parseJson(m.content));
    }
    await ch.deleteQueue(witnessQueue);
    await conn.close();
    const byJob = new Map(records.map((r) => [r.jobId, r]));
    expect(byJob.size).toBe(16);
    const users = Object.values(summary.accountingByUser);
    const sum = (f: (r: AccountingRecord) => number): number => [...byJob.values()].reduce((n, r) => n + f(r), 0);
    expect(users.reduce((n, u) => n + u.jobs, 0)).toBe(16);
    expect(users.reduce((n, u) => n + u.wallSec, 0)).toBeCloseTo(sum((r) => r.wallSec), 3);
    expect(users.reduce((n, u) => n + u.cpuSec, 0)).toBeCloseTo(sum((r) => r.userCpuSec + r.sysCpuSec), 3);
  }, 300_000);
});
