// An operator restarts Redis (SIGTERM, same data dir and port), or Redis is killed (SIGKILL, with
// the AOF fsynced once a second as production configs have it) and started again, while jobs wait in
// their sites' ready sets and some are claimed by pilots. With append-only persistence nothing may be
// lost or handed out twice (an acknowledged write is in the AOF file before its reply leaves, so a
// killed process loses none of them; only the host crashing may lose the last second); without it
// the same restart loses the queue, which shows the first case depends on persistence and is not
// true by construction.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, describe, expect, it } from "vitest";
import { autoclusterId, autoclusterKey } from "../../jobs/index.ts";
import { DispatchQueues, type ClaimedJob } from "../../jobs/index.ts";
import { JobStore } from "../../jobs/index.ts";
import { loadConfig, type LoadedConfig } from "../../platform/config.ts";
import { openRedis } from "../../platform/connections.ts";
import { startPrivateRedis } from "../../platform/local-services.ts";
import type { JobSpec } from "../../schemas/index.ts";
import { createJobs } from "../matchmaker/fixtures.ts";
import { uniqueNamespace } from "../support/namespace.ts";
import { asRole, runServerAuth } from "../support/test-roles.ts";

interface PrivateRedis {
  url: string;
  port: number;
  pid: number | undefined;
  stop: () => Promise<void>;
}

/** One deployment's clients on a private Redis; they stay open across the restart, as services' would. */
interface Clients {
  loaded: LoadedConfig;
  plain: RedisClient;
  dq: DispatchQueues;
  store: JobStore;
  close(): Promise<void>;
}

const LOCK_MS = 1500;
const HELD_LOCK_MS = 120_000;
const dirs: string[] = [];
const running: PrivateRedis[] = [];
const open: Clients[] = [];

afterAll(async () => {
  try {
    for (const c of open) await c.close();
  } finally {
    // The servers go by their process groups even when a client's close failed.
    for (const r of running) await r.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}, 60_000);

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "wms-aof-"));
  dirs.push(d);
  return d;
}

async function start(dir: string, opts: { appendOnly: boolean; appendFsync?: "always" | "everysec"; port?: number }): Promise<PrivateRedis> {
  // With the run's ACL users when authentication is on: the matchmaker's identity logs in (clients).
  const acl = runServerAuth()?.redisAclFile;
  const r = await startPrivateRedis(dir, { ...opts, ...(acl ? { aclFile: acl } : {}) });
  running.push(r);
  return r;
}

/**
 * SIGTERM (an operator's restart) or SIGKILL (a crash of the process: no shutdown, no final fsync),
 * then a new server on the same data dir and port.
 */
async function restart(r: PrivateRedis, dir: string, o: { appendOnly: boolean; appendFsync?: "always" | "everysec"; kill?: boolean }): Promise<PrivateRedis> {
  if (o.kill && r.pid) process.kill(-r.pid, "SIGKILL");
  await r.stop();
  running.splice(running.indexOf(r), 1);
  return start(dir, { appendOnly: o.appendOnly, appendFsync: o.appendFsync, port: r.port });
}

function clients(url: string, label: string): Clients {
  const loaded = loadConfig({ path: undefined, env: { WMS_NAMESPACE: uniqueNamespace(label), WMS_REDIS_URL: url } });
  // The dispatch queues and job store are the matchmaker's.
  const plain = openRedis(asRole(loaded, "matchmaker").config);
  // Errors while the server is down are expected (background stalled checks, reconnects).
  const dq = new DispatchQueues({ redis: plain, names: loaded.names, lockMs: LOCK_MS, stalledIntervalMs: 300, onError: () => undefined });
  const c: Clients = {
    loaded,
    plain,
    dq,
    store: new JobStore(plain, loaded.names),
    async close() {
      await dq.close();
      plain.disconnect();
    },
  };
  open.push(c);
  return c;
}

/** The connection answers again (ioredis reconnects on its own). */
async function reconnected(c: Clients): Promise<void> {
  await expect.poll(async () => c.plain.ping(), { timeout: 15_000, interval: 100 }).toBe("PONG");
}

interface QueueRef {
  site: string;
  ac: string;
}

function queueOf(spec: JobSpec): QueueRef {
  return { site: spec.site, ac: autoclusterId(autoclusterKey(spec)) };
}

/**
 * Several claimers at once (as several matchmakers would) until every queue is empty. Each claim
 * is completed at once, as a pilot that finished would: a claim left open would lapse (the
 * stalled check runs) and come back, which is the recovery path, not what this counts.
 */
async function drain(dq: DispatchQueues, queues: readonly QueueRef[], claimers: number): Promise<{ claimed: ClaimedJob[]; completed: number }> {
  const claimed: ClaimedJob[] = [];
  let completed = 0;
  await Promise.all(
    Array.from({ length: claimers }, async (_, i) => {
      for (const q of queues) {
        for (;;) {
          const c = await dq.claim(q.site, q.ac, `drain-pilot-${i}`);
          if (!c) break;
          claimed.push(c);
          if (await dq.complete(c.spec.jobId, c.lockToken)) completed++;
        }
      }
    }),
  );
  return { claimed, completed };
}

async function counters(c: Clients, taskIds: readonly string[], sites: readonly string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const t of taskIds) out[`task ${t}`] = await c.store.taskCounts(t);
  for (const s of sites) {
    out[`site ${s}`] = await c.store.siteCounts(s);
    out[`waiting ${s}`] = await c.dq.waitingCount(s);
  }
  return out;
}

const DOWNS = [
  { how: "restarted (SIGTERM)", appendFsync: "always", kill: false },
  { how: "killed (SIGKILL) with the AOF fsynced every second", appendFsync: "everysec", kill: true },
] as const;

describe("Redis restarted with append-only persistence", () => {
  it.each(DOWNS)("$how: no queued job lost: queued ones claimable exactly once, claimed ones still held or recovered by the stalled check, counters unchanged", async (down) => {
    const dir = dataDir();
    let redis = await start(dir, { appendOnly: true, appendFsync: down.appendFsync });
    const c = clients(redis.url, down.kill ? "aofkill" : "aof");


    // 3,000 jobs in four tasks over two sites, two autoclusters per site (memory differs).
    const groups: JobSpec[][] = [];
    for (const site of ["AOF_A", "AOF_B"]) {
      for (const memoryMb of [1000, 2000]) groups.push(await createJobs(c.store, { site, memoryMb, priority: memoryMb / 10 }, 750));
    }
    const all = groups.flat();
    for (const g of groups) await c.dq.enqueue(g);
    const sites = ["AOF_A", "AOF_B"];
    const taskIds = groups.map((g) => g[0].taskId);
    const queues = groups.map((g) => queueOf(g[0]));
    expect(new Set(queues.map((q) => `${q.site}/${q.ac}`)).size).toBe(4);

    // 60 claims per queue: half keep heartbeating (a long lock), half belong to pilots that will
    // be silent after the restart (their lock lapses).
    const held: ClaimedJob[] = [];
    const lapsing: ClaimedJob[] = [];
    for (const q of queues) {
      for (let i = 0; i < 60; i++) {
        const claimed = await c.dq.claim(q.site, q.ac, `pilot-${q.ac}-${i}`);
        if (!claimed) throw new Error(`queue ${q.site}/${q.ac} ran dry after ${i} claims`);
        if (i % 2 === 0) {
          expect(await c.dq.extendLock(claimed.spec.jobId, claimed.lockToken, HELD_LOCK_MS)).toBe(true);
          held.push(claimed);
        } else {
          // These pilots confirmed their claims (their first heartbeat) and then went silent: a claim
          // nobody confirms is given back without a new attempt, not requeued as a lost pilot's.
          expect(await c.dq.confirmClaim(claimed.spec.jobId, { attempt: claimed.attempt, leaseToken: claimed.lockToken, pilotId: `pilot-${q.ac}-${i}` })).toBe(true);
          lapsing.push(claimed);
        }
      }
    }
    const claimedIds = new Set([...held, ...lapsing].map((j) => j.spec.jobId));
    const queuedIds = all.map((s) => s.jobId).filter((id) => !claimedIds.has(id));
    expect(queuedIds).toHaveLength(3000 - 240);
    const before = await counters(c, taskIds, sites);
    expect(before[`waiting AOF_A`]).toBe(1500 - 120);

    redis = await restart(redis, dir, { appendOnly: true, appendFsync: down.appendFsync, kill: down.kill });
    await reconnected(c);

    // The records and counters are as they were.
    expect(await counters(c, taskIds, sites)).toEqual(before);
    // The queues themselves still hold every waiting job (not only the counter saying so).
    for (const s of sites) expect(await c.dq.recountWaiting(s)).toBe(1500 - 120);
    for (const q of queues) expect(await c.dq.queueWaiting(q.site, q.ac)).toBe(750 - 60);
    for (const j of [...held, ...lapsing]) expect(await c.dq.leaseOf(j.site, j.spec.jobId)).toBe(j.lockToken);
    // A heartbeating pilot's lock survived: its token still extends it.
    for (const j of held) expect(await c.dq.extendLock(j.spec.jobId, j.lockToken, HELD_LOCK_MS)).toBe(true);

    // Silent pilots' jobs come back through the stalled check with their attempt raised; the held ones do not.
    const outcomes = new Map<string, string>();
    await c.dq.startStalledChecks((jobId, outcome) => outcomes.set(jobId, outcome));
    const lapsingIds = lapsing.map((j) => j.spec.jobId);
    await expect.poll(() => lapsingIds.filter((id) => outcomes.get(id) === "requeued").length, { timeout: 15_000, interval: 200 }).toBe(lapsingIds.length);
    for (const j of held) expect(outcomes.has(j.spec.jobId)).toBe(false);
    const lapsedRecords = await Promise.all(lapsingIds.map((id) => c.store.getJob(id)));
    expect(lapsedRecords.map((r) => `${r?.state}/${r?.attempt}`)).toEqual(lapsingIds.map(() => "activated/2"));

    // Everything waiting is handed out exactly once, to four claimers racing.
    const { claimed: drained, completed } = await drain(c.dq, queues, 4);
    expect(completed).toBe(drained.length);
    const drainedIds = drained.map((j) => j.spec.jobId);
    expect(new Set(drainedIds).size).toBe(drainedIds.length);
    expect([...drainedIds].sort()).toEqual([...queuedIds, ...lapsingIds].sort());
    const lapsingSet = new Set(lapsingIds);
    for (const j of drained) expect(j.attempt).toBe(lapsingSet.has(j.spec.jobId) ? 2 : 1);
    for (const q of queues) expect(await c.dq.claim(q.site, q.ac, "late-pilot")).toBeUndefined();
    for (const j of held) {
      expect((await c.store.getJob(j.spec.jobId))?.state).toBe("sent");
      expect(await c.dq.complete(j.spec.jobId, j.lockToken)).toBe(true);
    }
    let sent = 0;
    for (const t of taskIds) sent += (await c.store.taskCounts(t)).sent;
    expect(sent).toBe(3000);
    for (const s of sites) expect(await c.dq.waitingCount(s)).toBe(0);
  }, 120_000);

  it("without persistence the same restart loses the queue (so the case above depends on the AOF)", async () => {
    const dir = dataDir();
    let redis = await start(dir, { appendOnly: false });
    const c = clients(redis.url, "noaof");
    const specs = await createJobs(c.store, { site: "NOAOF" }, 200);
    await c.dq.enqueue(specs);
    const q = queueOf(specs[0]);
    expect(await c.dq.waitingCount("NOAOF")).toBe(200);
    expect(await c.dq.recountWaiting("NOAOF")).toBe(200);

    redis = await restart(redis, dir, { appendOnly: false });
    await reconnected(c);

    expect(await c.dq.sites()).toEqual([]);
    expect(await c.dq.waitingCount("NOAOF")).toBe(0);
    expect(await c.store.getTask(specs[0].taskId)).toBeUndefined();
    expect(await c.store.getJob(specs[0].jobId)).toBeUndefined();
    expect(await c.dq.claim(q.site, q.ac, "pilot-after-restart")).toBeUndefined();
  }, 60_000);
});
