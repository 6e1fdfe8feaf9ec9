// The reports pipeline against the real RabbitMQ and Redis, each figure next to a baseline measured
// the same way in the same process: what our publisher, spool and consumer cost on top of the raw
// client doing the same work.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import amqp from "amqplib";
import { loadConfig } from "../../platform/config.ts";
import { openRedis } from "../../platform/connections.ts";
import { createLogger } from "../../platform/logger.ts";
import { deleteNamespaceKeys } from "../../platform/namespace-cleanup.ts";
import { deleteTopology, declareTopology, ReportPublisher } from "../../agents/reports/index.ts";
import { ReportSpool } from "../../agents/reports/report-spool.ts";
import { accountingConsumer, UsageStore } from "../../agents/accounting/index.ts";
import type { AccountingRecord } from "../../schemas/index.ts";
import { generateReportKey, signReport, verifyReportSignature } from "../../security/index.ts";
import type { BenchSuite } from "./suite.ts";

const N = 2000;
const WINDOW = 100;

function record(i: number): AccountingRecord {
  return { schemaVersion: 1, kind: "accounting", reportId: `bench-${i}-${randomBytes(6).toString("hex")}`, jobId: `j${i}`, taskId: "t", pilotId: "p", attempt: 1, lockToken: "bench-lease-token", userDn: `/DC=org/CN=User ${i % 10}`, vo: "atlas", group: "prod", site: `SITE_${i % 3}`, wallSec: 10, userCpuSec: 5, sysCpuSec: 1, maxRssKb: 1000, exitCode: 0, startedAt: 1, endedAt: 2 };
}

async function perSec(n: number, fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return Math.round(n / ((performance.now() - t0) / 1000));
}

async function inWindows(n: number, one: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i += WINDOW) await Promise.all(Array.from({ length: Math.min(WINDOW, n - i) }, (_, k) => one(i + k)));
}

const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;

export const reportsSuite: BenchSuite = {
  key: "reports",
  async run() {
    const ns = `benchrep${randomBytes(4).toString("hex")}`;
    const { config, names } = loadConfig({ env: { WMS_NAMESPACE: ns } });
    const url = config.rabbitmq.url;
    const logger = createLogger("bench", "silent");
    const dir = mkdtempSync(join(tmpdir(), "wms-bench-reports-"));
    const redis = openRedis(config);
    const conn = await amqp.connect(url);
    const ch = await conn.createConfirmChannel();
    try {
      await declareTopology(ch, names);
      const records = Array.from({ length: N }, (_, i) => record(i));
      const bodies = records.map((r) => Buffer.from(JSON.stringify(r)));

      // Publish: raw confirm-channel publishes vs (below) ReportPublisher.publish, both WINDOW in flight.
      const rawPublish = await perSec(N, () =>
        inWindows(N, (i) => new Promise<void>((res, rej) => ch.publish(names.rabbit.reportsExchange, names.rabbit.routingKeys.accounting, bodies[i], { persistent: true }, (e: unknown) => (e ? rej(e) : res())))),
      );
      // Consume: raw consume + ack of those N messages vs (below) the accounting agent applying N.
      const rawConsume = await perSec(N, async () => {
        const c2 = await conn.createChannel();
        await c2.prefetch(32);
        let n = 0;
        await new Promise<void>((res) => {
          void c2.consume(names.rabbit.queues.accounting, (m) => {
            if (!m) return;
            c2.ack(m);
            if (++n === N) res();
          });
        });
        await c2.close();
      });
      const pub = new ReportPublisher({ url, names, spoolDir: join(dir, "pub"), logger });
      const ourPublish = await perSec(N, () => inWindows(N, (i) => pub.publish(records[i])));
      await pub.close();
      const usage = new UsageStore(redis, names);
      const consumer = accountingConsumer({ url, names, redis, logger, usage });
      const agentConsume = await perSec(N, async () => {
        await consumer.start();
        while (consumer.stats.processed < N) await new Promise((r) => setTimeout(r, 5));
      });
      await consumer.stop();

      // Spool: our atomic append (write, fsync, rename, fsync dir) vs a bare write + fsync.
      const M = 200;
      const bareFsync = await perSec(M, async () => {
        for (let i = 0; i < M; i++) {
          const fh = await open(join(dir, `bare-${i}`), "w");
          await fh.writeFile(bodies[i]);
          await fh.sync();
          await fh.close();
        }
      });
      const spool = new ReportSpool(join(dir, "spool"));
      const spoolAppend = await perSec(M, async () => {
        for (let i = 0; i < M; i++) await spool.append(records[i]);
      });

      // Signed reports: the pilot signs each report once, an agent verifies it once (Ed25519,
      // node:crypto, key object cached). Baseline: the JSON encode + decode every report already costs.
      const key = generateReportKey();
      const K = 5000;
      const usPer = (fn: (i: number) => void): number => {
        const t0 = performance.now();
        for (let i = 0; i < K; i++) fn(i);
        return Math.round(((performance.now() - t0) * 1000 * 100) / K) / 100;
      };
      const sample = Array.from({ length: K }, (_, i) => records[i % N]);
      const jsonUs = usPer((i) => void JSON.parse(JSON.stringify(sample[i])));
      const signed = sample.map((r) => signReport(r, key.privateKey));
      const signUs = usPer((i) => void signReport(sample[i], key.privateKey));
      const verifyUs = usPer((i) => {
        if (!verifyReportSignature(signed[i], key.publicKey)) throw new Error("bench: a signed report did not verify");
      });

      return {
        reportSignUs: signUs,
        reportVerifyUs: verifyUs,
        reportJsonRoundTripUs: jsonUs,
        reportVerifyVsJsonRatio: ratio(verifyUs, jsonUs),
        /** Verification's share of what the accounting agent spends per record (1e6 / records per second). */
        reportVerifyShareOfAgentRecord: ratio(verifyUs, 1e6 / agentConsume),
        rawConfirmedPublishPerSec: rawPublish,
        publisherConfirmedPerSec: ourPublish,
        publisherVsRawRatio: ratio(ourPublish, rawPublish),
        rawConsumeAckPerSec: rawConsume,
        accountingAgentRecordsPerSec: agentConsume,
        agentVsRawConsumeRatio: ratio(agentConsume, rawConsume),
        bareFsyncWritesPerSec: bareFsync,
        spoolAppendsPerSec: spoolAppend,
        spoolVsBareFsyncRatio: ratio(spoolAppend, bareFsync),
      };
    } finally {
      await deleteTopology(ch, names).catch(() => undefined);
      await conn.close().catch(() => undefined);
      await deleteNamespaceKeys(redis, ns);
      redis.disconnect();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
