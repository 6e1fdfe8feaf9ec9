import { describe, expect, it } from "vitest";
import type { ChannelModel } from "amqplib";
import { configAs, loadConfig } from "../../platform/config.ts";
import { openRabbit } from "../../platform/connections.ts";
import { runDemo, type DemoOutput } from "../../demo/demo-run.ts";
import { AccountingRecord, type WireNames } from "../../schemas/index.ts";


describe("the demo's scenario, smaller", () => {
  it("finishes every job at a site holding its inputs, accounting totals equal the sum of the jobs' records, and cleans up without a failure line", async () => {
    const base = loadConfig({ env: {} });
    // An independent witness: our own queue on the reports exchange collects every accounting
    // record as it is published. It reads as the agents do (their RabbitMQ user on the demo's
    // authenticated servers), from a queue named under the reports: the only ones that user may declare.
    let conn: ChannelModel | undefined;
    let names: WireNames | undefined;
    const records: AccountingRecord[] = [];
    const lines: string[] = [];
    const out: DemoOutput = { info: (l) => void lines.push(l), progress: () => undefined, done: () => undefined };
    const summary = await runDemo(
      {
        jobs: 16, sites: 3, pilots: 3, matchmakers: 2, timeoutSec: 240, keep: false,
        beforeSubmit: async (ctx) => {
          names = ctx.names;
          const loaded = { config: ctx.config, names: ctx.names, path: undefined };
          conn = await openRabbit((ctx.identityFile ? configAs(loaded, ctx.identityFile("agents")) : loaded).config);
          // The demo stops its private servers when it ends: a closed connection is expected then.
          conn.on("error", () => undefined);
          const ch = await conn.createChannel();
          ch.on("error", () => undefined);
          const witnessQueue = `${ctx.names.rabbit.reportsExchange}.witness-${process.pid}`;
          await ch.assertQueue(witnessQueue, { durable: false, autoDelete: true });
          await ch.bindQueue(witnessQueue, ctx.names.rabbit.reportsExchange, ctx.names.rabbit.routingKeys.accounting);
          await ch.consume(witnessQueue, (m) => void (m && records.push(AccountingRecord.parseJson(m.content))), { noAck: true });
        },
      },
      base,
      out,
      new AbortController().signal,
    );
    await conn?.close().catch(() => undefined);
    expect(names).toBeDefined();
    // Its clean-up succeeds as a whole: no line tells the user a part of it failed.
    expect(lines.filter((l) => /failed/.test(l))).toEqual([]);
    expect(summary.jobs).toBe(16);
    expect(summary.finished).toBe(16);
    expect(summary.failed).toBe(0);
    expect(summary.dataLocalFraction).toBe(1);
    expect(Object.values(summary.bySite).reduce((a, b) => a + b, 0)).toBe(16);

    const byJob = new Map(records.map((r) => [r.jobId, r]));
    expect(byJob.size).toBe(16);
    const users = Object.values(summary.accountingByUser);
    const sum = (f: (r: AccountingRecord) => number): number => [...byJob.values()].reduce((n, r) => n + f(r), 0);
    expect(users.reduce((n, u) => n + u.jobs, 0)).toBe(16);
    expect(users.reduce((n, u) => n + u.wallSec, 0)).toBeCloseTo(sum((r) => r.wallSec), 3);
    expect(users.reduce((n, u) => n + u.cpuSec, 0)).toBeCloseTo(sum((r) => r.userCpuSec + r.sysCpuSec), 3);
  }, 300_000);
});
