// The stores outside jobs/ on a private 6-node Redis Cluster (3 masters, 3 replicas), through the
// ioredis Cluster client: each script and batch stays in one hash slot, reads merge the shards, and
// the namespace clean-up reaches every master. Without the per-site, per-user-bucket and per-list
// shards these fail with CROSSSLOT or "All keys in the pipeline should belong to the same slot".
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageStore } from "../../agents/accounting/index.ts";
import { CappedReportList, seenKeyIn } from "../../agents/reports/index.ts";
import { ReplicaCatalogStore } from "../../matchmaker/replica-catalog.ts";
import { readFactoryStatus, writeQueueStatus } from "../../pilot-factory/factory-status-store.ts";
import { loadConfig } from "../../platform/config.ts";
import { openRedis } from "../../platform/connections.ts";
import { deleteNamespaceKeys } from "../../platform/namespace-cleanup.ts";
import { dataNodes } from "../../platform/redis-client.ts";
import { ERR, isWmsError, wireNames, type AuditRecord, type WireNames } from "../../schemas/index.ts";
import { AuditLog, fixedSealKeys, newSealKey, ONE_TIME_KEY_SEAL_PURPOSE, OneTimeKeyStore, PilotTokenStore, SealVerifier, ServiceSealer } from "../../security/index.ts";
import { accountingReport, auditReport } from "../reports/support/report-factory.ts";
import { uniqueNamespace } from "../support/namespace.ts";
import { startRedisCluster, type PrivateRedisCluster } from "../support/private-clusters.ts";
import { asRole } from "../support/test-roles.ts";

let cluster: PrivateRedisCluster | undefined;
let redis: Cluster;
let dir = "";
const names: WireNames = wireNames(uniqueNamespace("storescl"));
const SITES = Array.from({ length: 12 }, (_, i) => `SITE_${i}`);

async function code(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isWmsError(e) ? e.code : -1;
  }
}

beforeAll(async () => {
  cluster = await startRedisCluster("stores");
  dir = mkdtempSync(join(tmpdir(), "wms-stores-cluster-"));
  const file = join(dir, "wms.yaml");
  writeFileSync(file, JSON.stringify({ namespace: names.namespace, redis: { cluster: { nodes: cluster.nodes } } }));
  // As the agents: the services that own these stores share one Redis ACL (transport-roles.ts).
  redis = openRedis(asRole(loadConfig({ path: file, env: {} }), "agents").config) as Cluster;
}, 180_000);

afterAll(async () => {
  redis?.disconnect();
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the stores outside jobs/ on a Redis Cluster", () => {
  it("consumes a wave of pilot tokens from many sites at once (one batched script per site shard), and still names another site's token", async () => {
    const tokens = new PilotTokenStore(redis, names);
    const minted = await Promise.all(SITES.map(async (site) => ({ site, token: await tokens.mint({ site, factoryId: "f1", uses: 3, ttlSec: 60 }) })));
    const wave = await Promise.all(minted.flatMap(({ site, token }) => [tokens.consume(token, site, "pilot-1"), tokens.consume(token, site, "pilot-1")]));
    expect(wave.map((c) => c.usesLeft).sort()).toEqual([...Array(SITES.length).fill(1), ...Array(SITES.length).fill(2)].sort());
    expect(await code(tokens.consume(minted[0].token, "SITE_1", "pilot-1"))).toBe(ERR.SEC_TOKEN_WRONG_SITE);
  });

  it("refuses a one-time key used twice and audits it in the site's shard, read back with the namespace's entries", async () => {
    const seal = fixedSealKeys(newSealKey());
    const keys = new OneTimeKeyStore(redis, names, { maxRenewals: 1, sealer: new ServiceSealer(seal, ONE_TIME_KEY_SEAL_PURPOSE), verifier: new SealVerifier(seal, ONE_TIME_KEY_SEAL_PURPOSE) });
    const b = { userDn: "/DC=org/CN=Ann", jobId: "T1.000001", pilotId: "p1", attempt: 1, site: "SITE_3" };
    const k = await keys.mint({ ...b, ttlSec: 60 });
    expect((await keys.consume(k, b)).renewalsLeft).toBe(1);
    expect(await code(keys.consume(k, b))).toBe(ERR.SEC_KEY_REUSED);
    await new AuditLog(redis, names).write("credential-stale-attempt", { jobId: "T1.000002" });
    const events = (await new AuditLog(redis, names).recent(10)).map((e) => e.event);
    expect(events.sort()).toEqual(["credential-stale-attempt", "one-time-key-reused"]);
  });

  it("applies accounting records exactly once per user bucket and sums groups, VOs and sites over the buckets", async () => {
    const usage = new UsageStore(redis, names);
    const users = Array.from({ length: 20 }, (_, i) => `/DC=org/CN=User ${i}`);
    const records = users.map((userDn) => accountingReport({ userDn, group: "phys", vo: "atlas", site: "SITE_0", wallSec: 10 }));
    const once = (r: (typeof records)[number]) => ({ seenKey: seenKeyIn(names, "accounting", r.reportId, usage.shardOf(r)), ttlSec: 60 });
    expect(await Promise.all(records.map((r) => usage.add(r, once(r))))).toEqual(records.map(() => true));
    expect(await Promise.all(records.map((r) => usage.add(r, once(r))))).toEqual(records.map(() => false));
    expect((await usage.get("group", "phys")).wallSec).toBe(200);
    expect((await usage.get("user", users[7])).jobs).toBe(1);
    expect((await usage.list("user")).length).toBe(20);
  });

  it("keeps a capped report list in buckets, each report once, newest first", async () => {
    const list = new CappedReportList<AuditRecord>(redis, names, "audit", 100);
    const reports = Array.from({ length: 30 }, (_, i) => auditReport({ at: 1_000 + i }));
    for (const r of reports) expect(await list.push(r, { seenKey: seenKeyIn(names, "audit", r.reportId, list.shardOf(r)), ttlSec: 60 })).toBe(true);
    expect(await list.push(reports[0], { seenKey: seenKeyIn(names, "audit", reports[0].reportId, list.shardOf(reports[0])), ttlSec: 60 })).toBe(false);
    expect((await list.recent(5)).map((r) => r.at)).toEqual([1029, 1028, 1027, 1026, 1025]);
    expect(await list.length()).toBe(30);
  });

  it("registers and reads a dataset's replicas over many sites, and writes and reads factory status", async () => {
    const catalog = new ReplicaCatalogStore(redis, names);
    const files = Array.from({ length: 50 }, (_, i) => ({ lfn: `f${i}`, size: i + 1, adler32: "0000000a", md5: "0".repeat(32) }));
    await catalog.addFiles("ds.cluster", files, SITES.slice(0, 4));
    const listed = await catalog.listDataset("ds.cluster");
    expect(listed?.length).toBe(50);
    expect(listed?.[0].sites).toEqual(SITES.slice(0, 4).sort());
    expect((await catalog.sitesHolding("ds.cluster", ["f1", "nope"])).get("f1")).toEqual(SITES.slice(0, 4).sort());
    await writeQueueStatus(redis, names, { schemaVersion: 1, factoryId: "f1", queue: "q1", site: "SITE_0", at: Date.now(), submitted: 1, pending: 0, idle: 1, running: 0, exited: 0, emptyPilots: 0, lost: 0, submitFailures: 0, ratePerMin: 1 } as never);
    // Found through the factories' index (another slot than the status): valid or not, it is read back.
    const read = await readFactoryStatus(redis, names);
    expect([...read.queues.map((q) => `${q.factoryId}/${q.queue}`), ...read.invalid]).toEqual(["f1/q1"]);
  });

  it("spreads the keys over all three masters, and the namespace clean-up deletes them on every one", async () => {
    const masters = await dataNodes(redis);
    expect(masters).toHaveLength(3);
    const count = async (): Promise<number[]> => Promise.all(masters.map(async (m) => (await m.scan("0", "MATCH", `${names.namespace}:*`, "COUNT", 100_000))[1].length));
    const before = await count();
    for (const n of before) expect(n).toBeGreaterThan(0);
    expect(await deleteNamespaceKeys(redis, names.namespace)).toBe(before.reduce((a, b) => a + b, 0));
    expect(await count()).toEqual([0, 0, 0]);
  });
});
