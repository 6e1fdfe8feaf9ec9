import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReportPublisher } from "../../agents/reports/index.ts";
import { ReportSpool } from "../../agents/reports/report-spool.ts";
import { createLogger } from "../../platform/logger.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole, roleRabbitUrl } from "../support/test-roles.ts";
import { TcpProxy } from "./support/tcp-proxy.ts";
import { drainQueue, removeTopology, withChannel } from "./support/rabbit-fixture.ts";
import { routingKeyFor } from "../../agents/reports/topology.ts";
import { auditReport } from "./support/report-factory.ts";

// The agents' identity: they declare the reports topology, consume it and may publish to it (dead
// letters), so the publishers and raw readers here log in as the agents do (pilots may only publish
// into a topology that exists: report-publisher.test.ts checks that with the pilot's identity).
const loaded = asRole(testConfig("reppub"), "agents");
const { names } = loaded;
const url = roleRabbitUrl(loaded, "agents");
const logger = createLogger("test", "silent");
const spoolRoot = mkdtempSync(join(tmpdir(), "wms-spool-"));
const proxy = new TcpProxy(new URL(url).hostname, Number(new URL(url).port || 5672));
// How long a publisher may take to have every report confirmed: generous, since only a broken
// publisher takes it all, and a loaded machine is slow to reconnect and resend.
const FLUSH_MS = 20_000;
let spoolN = 0;
const freshSpool = (): string => join(spoolRoot, `s${spoolN++}`);

beforeAll(async () => {
  await proxy.start();
});

afterAll(async () => {
  await proxy.stop();
  await removeTopology(url, names);
  rmSync(spoolRoot, { recursive: true, force: true });
});

describe("ReportPublisher", () => {
  it("delivers each report persistent, with messageId = reportId, once the broker confirms", async () => {
    const pub = new ReportPublisher({ url, names, spoolDir: freshSpool(), logger });
    const sent = Array.from({ length: 20 }, () => auditReport());
    for (const r of sent) await pub.publish(r);
    expect(pub.spooledCount()).toBe(0);
    expect(await pub.flush(FLUSH_MS)).toBe(true);
    await pub.close();
    const got = await drainQueue(url, names.rabbit.queues.audit);
    expect(got.map((m) => m.properties.messageId)).toEqual(sent.map((r) => r.reportId));
    expect(got.every((m) => m.properties.deliveryMode === 2)).toBe(true);
    expect(got.map((m) => JSON.parse(m.content.toString()) as unknown)).toEqual(sent);
  });

  it("spools to disk while RabbitMQ is unreachable and delivers every report, oldest first, when it returns", async () => {
    await proxy.stop();
    const dir = freshSpool();
    const pub = new ReportPublisher({ url: proxy.amqpUrl(url), names, spoolDir: dir, logger, retryMinMs: 50, retryMaxMs: 200 });
    const sent = Array.from({ length: 50 }, () => auditReport());
    for (const r of sent) await pub.publish(r);
    expect(pub.spooledCount()).toBe(50);
    expect(readdirSync(dir).filter((f) => f.endsWith(".report.json"))).toHaveLength(50);
    expect(await pub.flush(300)).toBe(false);
    await proxy.start();
    expect(await pub.flush(FLUSH_MS)).toBe(true);
    await pub.close();
    expect(readdirSync(dir).filter((f) => f.endsWith(".report.json"))).toHaveLength(0);
    const got = await drainQueue(url, names.rabbit.queues.audit);
    expect(got.map((m) => m.properties.messageId)).toEqual(sent.map((r) => r.reportId));
  });

  it("leaves unconfirmed reports on disk at close, and a new publisher on the same spool sends them", async () => {
    await proxy.stop();
    const dir = freshSpool();
    const first = new ReportPublisher({ url: proxy.amqpUrl(url), names, spoolDir: dir, logger, retryMinMs: 50 });
    const sent = Array.from({ length: 10 }, () => auditReport());
    for (const r of sent) await first.publish(r);
    await first.close();
    expect(readdirSync(dir).filter((f) => f.endsWith(".report.json"))).toHaveLength(10);
    await proxy.start();
    const second = new ReportPublisher({ url: proxy.amqpUrl(url), names, spoolDir: dir, logger, retryMinMs: 50 });
    expect(second.spooledCount()).toBe(10);
    expect(await second.flush(FLUSH_MS)).toBe(true);
    await second.close();
    const got = await drainQueue(url, names.rabbit.queues.audit);
    expect(got.map((m) => m.properties.messageId)).toEqual(sent.map((r) => r.reportId));
  });

  it("sends the reports a departed publisher left in the node's spool folder, though it spooled none itself", async () => {
    const dir = freshSpool();
    // A pilot still running on the node, connected and idle: nothing of its own in the spool.
    const live = new ReportPublisher({ url, names, spoolDir: dir, logger, adoptEveryMs: 200 });
    const own = auditReport();
    await live.publish(own);
    expect(live.spooledCount()).toBe(0);
    // Another pilot on the node could not reach RabbitMQ, spooled its reports and exited.
    await proxy.stop();
    const gone = new ReportPublisher({ url: proxy.amqpUrl(url), names, spoolDir: dir, logger, retryMinMs: 50, adoptEveryMs: 0 });
    const left = Array.from({ length: 5 }, () => auditReport());
    for (const r of left) await gone.publish(r);
    expect(gone.spooledCount()).toBe(5);
    await gone.close();
    await proxy.start();
    await expect.poll(() => readdirSync(dir).filter((f) => f.endsWith(".report.json")).length, { timeout: 15_000, interval: 100 }).toBe(0);
    expect(await live.spooledOnNode()).toBe(0);
    await live.close();
    const got = await drainQueue(url, names.rabbit.queues.audit);
    expect(got.map((m) => m.properties.messageId)).toEqual([own, ...left].map((r) => r.reportId));
  });

  it("goes back to sending straight away once the node's spool is empty, though another publisher sent its spooled files", async () => {
    const dir = freshSpool();
    // Two pilots on one node: this one loses RabbitMQ and spools; the other, connected, sends
    // those files for it (adopting what the folder holds) and removes them.
    const ownProxy = new TcpProxy(new URL(url).hostname, Number(new URL(url).port || 5672));
    await ownProxy.start(); // a port of its own, closed again at once
    await ownProxy.stop();
    const cutOff = new ReportPublisher({ url: ownProxy.amqpUrl(url), names, spoolDir: dir, logger, retryMinMs: 50, retryMaxMs: 100, adoptEveryMs: 0 });
    const other = new ReportPublisher({ url, names, spoolDir: dir, logger, adoptEveryMs: 50 });
    try {
      const spooled = Array.from({ length: 5 }, () => auditReport());
      for (const r of spooled) await cutOff.publish(r);
      expect(cutOff.spooledCount()).toBe(5);
      await expect.poll(() => readdirSync(dir).filter((f) => f.endsWith(".report.json")).length, { timeout: 15_000, interval: 50 }).toBe(0);
      await ownProxy.start();
      // Its files are gone from the folder: it must not keep counting them, nor send every later
      // report through the disk (fsync per report, and every pilot of the node racing to send it).
      expect(await cutOff.flush(FLUSH_MS)).toBe(true);
      const later = auditReport();
      await cutOff.publish(later);
      expect(cutOff.spooledCount()).toBe(0);
      expect(readdirSync(dir).filter((f) => f.endsWith(".report.json"))).toHaveLength(0);
      const got = await drainQueue(url, names.rabbit.queues.audit);
      expect(new Set(got.map((m) => m.properties.messageId))).toEqual(new Set([...spooled, later].map((r) => r.reportId)));
    } finally {
      await cutOff.close();
      await other.close();
      await ownProxy.stop();
    }
  });

  it("sends each spooled report about once, not once per publisher sharing the node's spool folder", async () => {
    // Three pilots on one node lose RabbitMQ, spool their reports into the one folder and adopt
    // each other's; when the broker is back each file must go out from one of them only.
    await proxy.stop();
    const dir = freshSpool();
    const pubs = Array.from({ length: 3 }, () => new ReportPublisher({ url: proxy.amqpUrl(url), names, spoolDir: dir, logger, retryMinMs: 50, retryMaxMs: 200, adoptEveryMs: 50 }));
    const sent = Array.from({ length: 90 }, () => auditReport());
    try {
      for (let i = 0; i < sent.length; i++) await pubs[i % pubs.length].publish(sent[i]);
      for (const p of pubs) expect(await p.spooledOnNode()).toBe(sent.length);
      await proxy.start();
      for (const p of pubs) expect(await p.flush(FLUSH_MS)).toBe(true);
    } finally {
      for (const p of pubs) await p.close();
    }
    expect(readdirSync(dir)).toEqual([]);
    const got = (await drainQueue(url, names.rabbit.queues.audit)).map((m) => m.properties.messageId as string);
    expect(new Set(got)).toEqual(new Set(sent.map((r) => r.reportId)));
    // A report whose confirm was lost may go twice; three times over means every publisher sent it.
    expect(got.length).toBeLessThan(2 * sent.length);
  });

  it("sends the files a publisher killed mid-send had claimed, and only once that process is gone", async () => {
    const dir = freshSpool();
    const spool = new ReportSpool(dir);
    const sent = Array.from({ length: 12 }, () => auditReport());
    for (const r of sent) await spool.append(r);
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "support", "spool-claimer.ts"), dir], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise((r) => child.once("exit", r));
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    await expect.poll(() => out, { timeout: 30_000, interval: 50 }).toContain(`claimed ${sent.length}`);
    const live = new ReportPublisher({ url, names, spoolDir: dir, logger, retryMinMs: 50, retryMaxMs: 200, adoptEveryMs: 50 });
    try {
      // The claimer lives: its files are still to deliver from this node, but not this publisher's to send.
      expect(await live.spooledOnNode()).toBe(sent.length);
      expect(await live.flush(500)).toBe(false);
      expect(readdirSync(dir).filter((f) => f.startsWith(`.claimed-${child.pid}-`))).toHaveLength(sent.length);
      child.kill("SIGKILL");
      await exited;
      expect(await live.flush(FLUSH_MS)).toBe(true);
    } finally {
      child.kill("SIGKILL");
      await live.close();
    }
    expect(readdirSync(dir)).toEqual([]);
    const got = await drainQueue(url, names.rabbit.queues.audit);
    expect(got.map((m) => m.properties.messageId)).toEqual(sent.map((r) => r.reportId));
  }, 60_000);

  it("sets a spooled file that is not a report aside as .corrupt and still sends the others", async () => {
    const dir = freshSpool();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "000000000000001-0000001-000000000-broken.report.json"), "{ half a repo");
    const good = auditReport();
    writeFileSync(join(dir, `000000000000002-0000001-000000001-${good.reportId}.report.json`), JSON.stringify(good));
    const pub = new ReportPublisher({ url, names, spoolDir: dir, logger });
    expect(pub.spooledCount()).toBe(2);
    expect(await pub.flush(FLUSH_MS)).toBe(true);
    await pub.close();
    expect(readdirSync(dir)).toEqual(["000000000000001-0000001-000000000-broken.report.json.corrupt"]);
    const got = await drainQueue(url, names.rabbit.queues.audit);
    expect(got.map((m) => m.properties.messageId)).toEqual([good.reportId]);
  });

  // 18 s of the default 30 s in a loaded fresh-clone CI run: a minute to flush, two for the test.
  it("reconnects by itself after the broker connection is reset mid-stream, losing nothing", async () => {
    const pub = new ReportPublisher({ url: proxy.amqpUrl(url), names, spoolDir: freshSpool(), logger, retryMinMs: 50, retryMaxMs: 200 });
    const sent = Array.from({ length: 200 }, () => auditReport());
    for (let i = 0; i < sent.length; i++) {
      if (i === 60) await proxy.stop();
      if (i === 120) await proxy.start();
      await pub.publish(sent[i]);
    }
    expect(await pub.flush(60_000)).toBe(true);
    await pub.close();
    const got = await drainQueue(url, names.rabbit.queues.audit);
    // A report whose confirm was lost with the connection may arrive twice; none may be missing.
    expect(new Set(got.map((m) => m.properties.messageId as string))).toEqual(new Set(sent.map((r) => r.reportId)));
  }, 120_000);

  it("does not take an unroutable report (no queue bound) for delivered: it is counted and kept until a queue is bound", async () => {
    const warm = new ReportPublisher({ url, names, spoolDir: freshSpool(), logger });
    await warm.publish(auditReport());
    await warm.close();
    await drainQueue(url, names.rabbit.queues.audit);
    const key = routingKeyFor(names, "audit");
    await withChannel(url, (ch) => ch.unbindQueue(names.rabbit.queues.audit, names.rabbit.reportsExchange, key));
    const pub = new ReportPublisher({ url, names, spoolDir: freshSpool(), logger, rabbit: { ...asRole(loaded, "pilot").config.rabbitmq, declareTopology: false }, retryMinMs: 50, retryMaxMs: 200 });
    const lost = auditReport();
    await pub.publish(lost);
    expect(pub.unroutableCount()).toBe(1);
    expect(pub.spooledCount()).toBe(1);
    expect(await pub.flush(300)).toBe(false);
    await withChannel(url, (ch) => ch.bindQueue(names.rabbit.queues.audit, names.rabbit.reportsExchange, key));
    expect(await pub.flush(FLUSH_MS)).toBe(true);
    await pub.close();
    const got = await drainQueue(url, names.rabbit.queues.audit);
    expect(got.map((m) => m.properties.messageId)).toEqual([lost.reportId]);
  });
});
