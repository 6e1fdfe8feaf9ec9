import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReportPublisher, type ReportConsumer } from "../../agents/reports/index.ts";
import { accountingConsumer, auditConsumer, auditLog, UsageStore, type UsageKind } from "../../agents/accounting/index.ts";
import type { AccountingRecord } from "../../schemas/index.ts";
import { openRedis } from "../../platform/connections.ts";
import { createLogger } from "../../platform/logger.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole, roleRabbitUrl } from "../support/test-roles.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { removeTopology, waitFor } from "./support/rabbit-fixture.ts";
import { accountingReport, auditReport } from "./support/report-factory.ts";

// The agents' identity: they declare the reports topology, consume it and may publish to it (dead
// letters), so the publishers and raw readers here log in as the agents do (pilots may only publish
// into a topology that exists: report-publisher.test.ts checks that with the pilot's identity).
const loaded = asRole(testConfig("acct"), "agents");
const { config, names } = loaded;
const url = roleRabbitUrl(loaded, "agents");
const logger = createLogger("test", "silent");
const redis = openRedis(config);
const spool = mkdtempSync(join(tmpdir(), "wms-acct-"));
const quotas = { users: { "/DC=org/CN=Over User": 1, "/DC=org/CN=Jane Doe": 1000 }, groups: { bigrp: 2 } };
const usage = new UsageStore(redis, names, quotas);
let publisher: ReportPublisher;
let consumer: ReportConsumer;

beforeAll(async () => {
  publisher = new ReportPublisher({ url, names, spoolDir: spool, logger });
  consumer = accountingConsumer({ url, names, redis, logger, usage });
  await consumer.start();
});

afterAll(async () => {
  await consumer.stop();
  await publisher.close();
  await removeTopology(url, names);
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  rmSync(spool, { recursive: true, force: true });
});

function expected(records: readonly AccountingRecord[], kind: UsageKind, name: string): { jobs: number; wallSec: number; cpuSec: number; maxRssKb: number } {
  const pick = (r: AccountingRecord): string => ({ user: r.userDn, group: r.group, vo: r.vo, site: r.site })[kind];
  const mine = records.filter((r) => pick(r) === name);
  return {
    jobs: mine.length,
    wallSec: mine.reduce((s, r) => s + r.wallSec, 0),
    cpuSec: mine.reduce((s, r) => s + r.userCpuSec + r.sysCpuSec, 0),
    maxRssKb: Math.max(0, ...mine.map((r) => r.maxRssKb)),
  };
}

describe("accounting agent", () => {
  it("keeps per user, group, VO and site totals equal to the sum of the job records", async () => {
    const users = ["/DC=org/CN=Jane Doe", "/DC=org/CN=John Roe"];
    const records = Array.from({ length: 40 }, (_, i) =>
      accountingReport({ userDn: users[i % 2], group: i % 3 === 0 ? "higgs" : "top", vo: i % 5 === 0 ? "cms" : "atlas", site: `SITE_${"ABC"[i % 3]}`, wallSec: 10 + i * 1.5, userCpuSec: i, sysCpuSec: 0.25, maxRssKb: 1000 + ((i * 7919) % 5000) }),
    );
    const before = consumer.stats.processed;
    for (const r of records) await publisher.publish(r);
    await waitFor(() => consumer.stats.processed - before === records.length, 15_000, "40 records processed");
    for (const [kind, namesOf] of [
      ["user", users],
      ["group", ["higgs", "top"]],
      ["vo", ["atlas", "cms"]],
      ["site", ["SITE_A", "SITE_B", "SITE_C"]],
    ] as [UsageKind, string[]][]) {
      for (const n of namesOf) {
        const got = await usage.get(kind, n);
        const want = expected(records, kind, n);
        expect(got.jobs, `${kind} ${n} jobs`).toBe(want.jobs);
        expect(got.wallSec).toBeCloseTo(want.wallSec, 6);
        expect(got.cpuSec).toBeCloseTo(want.cpuSec, 6);
        expect(got.maxRssKb).toBe(want.maxRssKb);
      }
      expect((await usage.list(kind)).map((u) => u.name).sort()).toEqual([...namesOf].sort());
    }
  });

  it("counts a redelivered record (same reportId) once", async () => {
    const r = accountingReport({ site: "SITE_DUP", wallSec: 42 });
    const before = { ...consumer.stats };
    await publisher.publish(r);
    await publisher.publish(r);
    await waitFor(() => consumer.stats.processed + consumer.stats.duplicates - before.processed - before.duplicates === 2, 10_000, "both copies consumed");
    expect(consumer.stats.duplicates - before.duplicates).toBe(1);
    const site = await usage.get("site", "SITE_DUP");
    expect(site.jobs).toBe(1);
    expect(site.wallSec).toBe(42);
  });

  it("counts a preempted attempt's wall time as wasted, apart from the wall time charged to its user", async () => {
    const used = accountingReport({ site: "SITE_PRE", wallSec: 30 });
    const wasted = accountingReport({ site: "SITE_PRE", wallSec: 500, preempted: true });
    await publisher.publish(used);
    await publisher.publish(wasted);
    await waitFor(async () => (await usage.get("site", "SITE_PRE")).jobs === 2, 10_000, "both records applied");
    expect(await usage.get("site", "SITE_PRE")).toMatchObject({ jobs: 2, wallSec: 30, wastedWallSec: 500 });
  });

  it("reports a user or group over its wall-clock quota, and nobody over without a quota", async () => {
    const over = "/DC=org/CN=Over User";
    expect(await usage.overQuota(over, "bigrp")).toBeUndefined();
    await usage.add(accountingReport({ userDn: over, group: "smallgrp", wallSec: 3000 }));
    expect(await usage.overQuota(over, "smallgrp")).toBeUndefined();
    await usage.add(accountingReport({ userDn: over, group: "smallgrp", wallSec: 700 }));
    expect(await usage.overQuota(over, "smallgrp")).toEqual({ scope: "user", name: over, usedHours: 3700 / 3600, limitHours: 1 });
    const member = "/DC=org/CN=Group Member";
    await usage.add(accountingReport({ userDn: member, group: "bigrp", wallSec: 7300 }));
    expect(await usage.overQuota(member, "bigrp")).toMatchObject({ scope: "group", name: "bigrp", limitHours: 2 });
    expect(await usage.overQuota(member, "unlimited")).toBeUndefined();
  });

  it("gives each user's fair-share usage as their fraction of all users' wall time", async () => {
    const all = await usage.list("user");
    const total = all.reduce((s, u) => s + u.wallSec, 0);
    const jane = all.find((u) => u.name === "/DC=org/CN=Jane Doe");
    expect(jane).toBeDefined();
    expect(await usage.fairShareUsage("/DC=org/CN=Jane Doe")).toBeCloseTo((jane?.wallSec ?? NaN) / total, 9);
    expect(await usage.fairShareUsage("/DC=org/CN=Never Ran")).toBe(0);
    const shares = await usage.fairShareUsages(all.map((u) => u.name));
    expect([...shares.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
  });
});

describe("audit consumer", () => {
  it("keeps each audit record once, newest first, in the capped list the monitor reads", async () => {
    const audit = auditConsumer({ url, names, redis, logger });
    await audit.start();
    try {
      const recs = [auditReport({ jobId: "job-a1" }), auditReport({ event: "credential-retrieval", jobId: "job-a2" }), auditReport({ event: "key-reuse", jobId: "job-a3" })];
      for (const r of recs) await publisher.publish(r);
      await publisher.publish(recs[1]);
      await waitFor(() => audit.stats.processed + audit.stats.duplicates === 4, 10_000, "audit records consumed");
      const log = auditLog(redis, names);
      expect((await log.recent(10)).map((r) => r.reportId).sort()).toEqual(recs.map((r) => r.reportId).sort());
      const latest = auditReport({ event: "identity-switch", jobId: "job-a4", localAccount: "pool007" });
      await publisher.publish(latest);
      await waitFor(() => audit.stats.processed === 4, 10_000, "latest audit record consumed");
      const list = await log.recent(10);
      expect(list).toHaveLength(4);
      expect(list[0]).toEqual(latest);
    } finally {
      await audit.stop();
    }
  });
});
