// Fault tests for the reports pipeline with the real RabbitMQ and Redis. "RabbitMQ restarted" is
// simulated with a TCP proxy we stop and start (connections reset, reconnects refused meanwhile):
// the shared broker is never restarted, since every other test file uses it at the same time.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEAD_LETTER_HEADERS, ReportConsumer, ReportPublisher } from "../../agents/reports/index.ts";
import { accountingConsumer, attemptAccountedKey, UsageStore } from "../../agents/accounting/index.ts";
import { ERR } from "../../schemas/index.ts";
import { openRedis } from "../../platform/connections.ts";
import { createLogger } from "../../platform/logger.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole, roleRabbitUrl } from "../support/test-roles.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { TcpProxy } from "./support/tcp-proxy.ts";
import { drainQueue, removeTopology, waitFor, withChannel } from "./support/rabbit-fixture.ts";
import { accountingReport } from "./support/report-factory.ts";

// The agents' identity: they declare the reports topology, consume it and may publish to it (dead
// letters), so the publishers and raw readers here log in as the agents do (pilots may only publish
// into a topology that exists: report-publisher.test.ts checks that with the pilot's identity).
const loaded = asRole(testConfig("faults"), "agents");
const { config, names } = loaded;
const url = roleRabbitUrl(loaded, "agents");
const logger = createLogger("test", "silent");
const redis = openRedis(config);
const usage = new UsageStore(redis, names);
const spoolRoot = mkdtempSync(join(tmpdir(), "wms-faults-"));
const proxy = new TcpProxy(new URL(url).hostname, Number(new URL(url).port || 5672));

beforeAll(async () => {
  await proxy.start();
  // Declares the topology so raw publishes below are routed.
  const pub = new ReportPublisher({ url, names, spoolDir: join(spoolRoot, "init"), logger });
  await pub.publish(accountingReport({ site: "SITE_INIT" }));
  await pub.close();
  await drainQueue(url, names.rabbit.queues.accounting);
});

afterAll(async () => {
  await proxy.stop();
  await removeTopology(url, names);
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  rmSync(spoolRoot, { recursive: true, force: true });
});

describe("reports pipeline under faults", () => {
  it("dead-letters a poison message with its reason and keeps consuming", async () => {
    const consumer = accountingConsumer({ url, names, redis, logger, usage });
    await consumer.start();
    try {
      const bad = accountingReport({ site: "SITE_POISON" }) as unknown as Record<string, unknown>;
      delete bad.userDn;
      await withChannel(url, async (ch) => {
        const rk = names.rabbit.routingKeys.accounting;
        ch.publish(names.rabbit.reportsExchange, rk, Buffer.from("{not json"), { persistent: true, messageId: "poison-json" });
        ch.publish(names.rabbit.reportsExchange, rk, Buffer.from(JSON.stringify(bad)), { persistent: true, messageId: "poison-schema" });
        ch.publish(names.rabbit.reportsExchange, rk, Buffer.from(JSON.stringify(accountingReport({ site: "SITE_POISON", wallSec: 5 }))), { persistent: true });
      });
      await waitFor(() => consumer.stats.processed === 1 && consumer.stats.deadLettered === 2, 10_000, "1 processed, 2 dead-lettered");
      expect((await usage.get("site", "SITE_POISON")).jobs).toBe(1);
      const dead = await drainQueue(url, names.rabbit.queues.deadLetter);
      expect(dead.map((m) => m.properties.messageId).sort()).toEqual(["poison-json", "poison-schema"]);
      for (const m of dead) {
        const h = m.properties.headers ?? {};
        expect(h[DEAD_LETTER_HEADERS.code]).toBe(ERR.REPORT_BAD_SCHEMA);
        expect(h[DEAD_LETTER_HEADERS.queue]).toBe(names.rabbit.queues.accounting);
      }
      const bySchema = dead.find((m) => m.properties.messageId === "poison-schema");
      expect(String(bySchema?.properties.headers?.[DEAD_LETTER_HEADERS.reason])).toContain("userDn");
      const byJson = dead.find((m) => m.properties.messageId === "poison-json");
      expect(String(byJson?.properties.headers?.[DEAD_LETTER_HEADERS.reason])).toContain("JSON");
      expect(byJson?.content.toString()).toBe("{not json");
    } finally {
      await consumer.stop();
    }
  });

  it("dead-letters a report nested too deep to print, and keeps consuming", async () => {
    // JSON.parse reads 100,000 nested arrays; printing them for the refusal overflowed the stack,
    // outside the consumer's handling: the message stayed unacked (neither applied nor dead-lettered),
    // and a prefetch's worth of them stalled the queue.
    const consumer = accountingConsumer({ url, names, redis, logger, usage });
    await consumer.start();
    try {
      const deep = "[".repeat(100_000) + "]".repeat(100_000);
      await withChannel(url, async (ch) => {
        const rk = names.rabbit.routingKeys.accounting;
        ch.publish(names.rabbit.reportsExchange, rk, Buffer.from(`{"kind":${deep}}`), { persistent: true, messageId: "poison-deep-kind" });
        ch.publish(names.rabbit.reportsExchange, rk, Buffer.from(JSON.stringify({ ...accountingReport({ site: "SITE_DEEP" }), reportId: "x" }).replace('"reportId":"x"', `"reportId":${deep}`)), { persistent: true, messageId: "poison-deep-field" });
        ch.publish(names.rabbit.reportsExchange, rk, Buffer.from(JSON.stringify(accountingReport({ site: "SITE_DEEP", wallSec: 5 }))), { persistent: true });
      });
      await waitFor(() => consumer.stats.processed === 1 && consumer.stats.deadLettered === 2, 15_000, "1 processed, 2 dead-lettered");
      const dead = await drainQueue(url, names.rabbit.queues.deadLetter);
      expect(dead.map((m) => m.properties.messageId).sort()).toEqual(["poison-deep-field", "poison-deep-kind"]);
      for (const m of dead) expect(m.properties.headers?.[DEAD_LETTER_HEADERS.code]).toBe(ERR.REPORT_BAD_SCHEMA);
    } finally {
      await consumer.stop();
    }
  });

  it("redelivers what a consumer killed mid-batch left unacked, and applies each report once", async () => {
    const records = Array.from({ length: 30 }, (_, i) => accountingReport({ site: "SITE_KILL", wallSec: i + 1 }));
    const pub = new ReportPublisher({ url, names, spoolDir: join(spoolRoot, "kill"), logger });
    for (const r of records) await pub.publish(r);
    await pub.close();

    // The doomed consumer applies each report's effect, then hangs before it can ack: the worst
    // moment to die, since the effect is already in Redis.
    let release: () => void = () => undefined;
    const hang = new Promise<void>((r) => (release = r));
    let applied = 0;
    const doomed = new ReportConsumer({
      url,
      names,
      redis,
      logger,
      queue: "accounting",
      consumer: "accounting",
      prefetch: 8,
      handle: async (report, ctx) => {
        if (report.kind !== "accounting") return;
        // The accounting agent's own mark (one per attempt), so the survivor sees what was applied.
        await usage.add(report, { seenKey: attemptAccountedKey(names, report), ttlSec: ctx.seenTtlSec });
        applied++;
        await hang;
      },
    });
    await doomed.start();
    await waitFor(() => applied === 8, 10_000, "doomed consumer took its prefetch window");
    await doomed.abort();
    release();

    const survivor = accountingConsumer({ url, names, redis, logger, usage });
    await survivor.start();
    try {
      await waitFor(() => survivor.stats.processed + survivor.stats.duplicates === 30, 15_000, "all 30 consumed by the survivor");
      expect(survivor.stats.duplicates).toBe(8);
      const site = await usage.get("site", "SITE_KILL");
      expect(site.jobs).toBe(30);
      expect(site.wallSec).toBe(records.reduce((s, r) => s + r.wallSec, 0));
    } finally {
      await survivor.stop();
    }
  });

  it("loses nothing when RabbitMQ goes away and comes back while reports flow (count in = count processed)", async () => {
    const proxied = proxy.amqpUrl(url);
    const pub = new ReportPublisher({ url: proxied, names, spoolDir: join(spoolRoot, "restart"), logger, retryMinMs: 50, retryMaxMs: 250 });
    const consumers = [0, 1].map(() => accountingConsumer({ url: proxied, names, redis, logger, usage }));
    for (const c of consumers) await c.start();
    const records = Array.from({ length: 300 }, (_, i) => accountingReport({ site: "SITE_FLOW", wallSec: 1, maxRssKb: i }));
    try {
      for (let i = 0; i < records.length; i++) {
        if (i === 100) await proxy.stop();
        if (i === 200) await proxy.start();
        await pub.publish(records[i]);
        if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      expect(await pub.flush(20_000)).toBe(true);
      await waitFor(async () => (await usage.get("site", "SITE_FLOW")).jobs >= 300, 20_000, "300 records applied");
      // Let late redeliveries land before judging "once".
      await new Promise((r) => setTimeout(r, 300));
      const site = await usage.get("site", "SITE_FLOW");
      expect(site.jobs).toBe(300);
      expect(site.wallSec).toBe(300);
      expect(site.maxRssKb).toBe(299);
      expect(consumers.every((c) => c.stats.processed > 0)).toBe(true);
    } finally {
      await pub.close();
      for (const c of consumers) await c.stop();
    }
  });
});
