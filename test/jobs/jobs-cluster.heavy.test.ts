// The jobs port on a private Redis Cluster (6 nodes: 3 masters, 3 replicas, from the installed
// redis-server): tasks created, jobs queued at 12 sites, claimed, moved, renewed in one batch, and a
// silent pilot's lease expiring, all through ioredis's Cluster client. Every script runs in one hash
// slot (a CROSSSLOT or MOVED would fail the step), and the site and task shards land on all three masters.
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DispatchQueues, JobStore, Reconciler, autoclusterId, autoclusterKey, hashTag, jobKeys, type ClaimedJob } from "../../jobs/index.ts";
import { ERR, isWmsError, wireNames, type JobSpec } from "../../schemas/index.ts";
import { PilotTokenStore } from "../../security/index.ts";
import { startRedisCluster, type PrivateRedisCluster } from "../support/private-clusters.ts";
import { uniqueNamespace } from "../support/namespace.ts";
import { makeSpec } from "../matchmaker/fixtures.ts";
import { loadConfig } from "../../platform/config.ts";
import { redisConnectOptions } from "../../platform/connections.ts";
import { asRole } from "../support/test-roles.ts";

const SITES = Array.from({ length: 12 }, (_, i) => `CL_${i}`);
const TASKS = 6;
const PER_TASK = 24;
const LEASE_MS = 1500;

let cluster: PrivateRedisCluster | undefined;
let redis: Cluster;
const names = wireNames(uniqueNamespace("jobscl"));

beforeAll(async () => {
  cluster = await startRedisCluster("jobs");
  redis = new Cluster(
    cluster.nodes.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port) })),
    // As the matchmaker, which runs these scripts (its ACL user when the run authenticates).
    { enableAutoPipelining: true, slotsRefreshInterval: 2000, redisOptions: { maxRetriesPerRequest: 3, ...redisConnectOptions(asRole(loadConfig({ path: undefined, env: {} }), "matchmaker").config.redis) } },
  );
}, 180_000);

afterAll(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

describe("the jobs port on Redis Cluster", () => {
  it("creates, queues, claims, moves, renews and expires jobs with every script in one slot, over all three masters", async () => {
    const store = new JobStore(redis, names);
    const dq = new DispatchQueues({ redis, names, lockMs: LEASE_MS, stalledIntervalMs: 200 });
    const outcomes = new Map<string, string>();
    try {
      const all: JobSpec[] = [];
      for (let t = 0; t < TASKS; t++) {
        const taskId = `CLT${t}`;
        const specs = Array.from({ length: PER_TASK }, (_, i) => makeSpec({ taskId, site: SITES[(t * PER_TASK + i) % SITES.length], maxAttempts: 3 }, i));
        await store.createTask({ taskId, taskName: taskId, kind: "production", vo: "atlas", group: "", ownerDn: specs[0].userDn, priority: 0, maxAttempts: 3, outputDataset: `out.${taskId}` }, specs.map((spec) => ({ spec, state: "activated" as const })));
        await dq.enqueue(specs);
        all.push(...specs);
      }
      const total = TASKS * PER_TASK;
      expect((await Promise.all(SITES.map((s) => dq.waitingCount(s)))).reduce((a, b) => a + b, 0)).toBe(total);

      // Every job claimed once, through the shape index of its site.
      const claimed: ClaimedJob[] = [];
      for (const site of SITES) {
        const acs = Object.keys(await dq.autoclusters(site));
        expect(acs).toEqual([autoclusterId(autoclusterKey(all.find((s) => s.site === site)!))]);
        for (let c = await dq.claim(site, acs, `pilot-${site}`); c; c = await dq.claim(site, acs, `pilot-${site}`)) claimed.push(c);
      }
      expect(new Set(claimed.map((c) => c.spec.jobId)).size).toBe(total);
      expect(claimed.every((c) => c.spec.seal === undefined && c.spec.executable === all[0].executable)).toBe(true);

      // Half run to the end; one batched heartbeat renews the rest (many sites, one call per site shard).
      const [done, live] = [claimed.slice(0, total / 2), claimed.slice(total / 2)];
      for (const c of done) {
        const fence = { attempt: c.attempt, leaseToken: c.lockToken, pilotId: `pilot-${c.site}` };
        expect((await store.transition(c.spec.jobId, "running", ["sent"], {}, Date.now(), undefined, undefined, fence)).moved).toBe(true);
        expect((await store.transition(c.spec.jobId, "finished", ["running"], {}, Date.now(), undefined, undefined, fence)).moved).toBe(true);
        expect(await dq.complete(c.spec.jobId, c.lockToken)).toBe(true);
      }
      // Their pilots confirmed them (a claim nobody confirms is given back without a new attempt).
      for (const c of live) expect(await dq.confirmClaim(c.spec.jobId, { attempt: c.attempt, leaseToken: c.lockToken, pilotId: `pilot-${c.site}` })).toBe(true);
      expect(await dq.renewLeases(live.map((c) => ({ jobId: c.spec.jobId, leaseToken: c.lockToken })))).toEqual(live.map(() => true));
      expect(await dq.renewLeases([{ jobId: live[0].spec.jobId, leaseToken: done[0].lockToken }])).toEqual([false]);

      // The other half's pilots go silent: the lease checks requeue each job once as attempt 2.
      await dq.startStalledChecks((id, o) => outcomes.set(id, o));
      await expect.poll(() => live.filter((c) => outcomes.get(c.spec.jobId) === "requeued").length, { timeout: 30_000, interval: 200 }).toBe(live.length);
      const again = await Promise.all(live.map((c) => store.getJob(c.spec.jobId)));
      expect(again.map((r) => `${r?.state}/${r?.attempt}`)).toEqual(live.map(() => "activated/2"));
      // Their histories, jobs of every task, read in one call (a pipeline per slot): each job's own.
      const histories = await store.attemptsOf(live.map((c) => c.spec.jobId));
      expect(live.map((c) => histories.get(c.spec.jobId)?.map((a) => `${a.attempt}/${a.ended}/${a.site}`))).toEqual(live.map((c) => [`1/lost/${c.site}`]));
      // The old pilot's report is refused and counted (per site shard, summed on read).
      const stale = live[0];
      const refused = await store.transition(stale.spec.jobId, "running", ["sent"], {}, Date.now(), undefined, undefined, { attempt: 1, leaseToken: stale.lockToken, pilotId: `pilot-${stale.site}` });
      expect(refused).toMatchObject({ moved: false, stale: true });
      expect((await store.errorCounts())[String(ERR.JOB_STALE_UPDATE)]).toBe(1);

      const counts = await Promise.all(SITES.map((s) => store.siteCounts(s)));
      expect(counts.reduce((n, c) => n + c.finished, 0)).toBe(total / 2);
      expect(counts.reduce((n, c) => n + c.activated, 0)).toBe(total / 2);
      expect(counts.reduce((n, c) => n + c.sent, 0)).toBe(0);
      expect((await Promise.all(SITES.map((s) => dq.waitingCount(s)))).reduce((a, b) => a + b, 0)).toBe(total / 2);

      // The reconciliation reads every shard (its tally one script per batch of a task's slot, the
      // queues page by page per site's slot): nothing to repair, then a lost entry put back.
      const reconciler = new Reconciler(store, dq, { graceMs: 0 });
      expect((await reconciler.run()).repairs).toEqual([]);
      const lost = live[1];
      expect(await redis.zrem(jobKeys(names).site(lost.site).ready(lost.autocluster), lost.spec.jobId)).toBe(1);
      const repaired = await reconciler.run();
      expect(repaired.jobsScanned).toBe(total);
      expect(repaired.repairs).toContainEqual({ kind: "entry-restored", subject: lost.spec.jobId, detail: "activated" });
      expect(await dq.waitingIds(lost.site, lost.autocluster)).toContain(lost.spec.jobId);

      // The shards are spread over the three masters.
      const masters = redis.nodes("master");
      expect(masters).toHaveLength(3);
      const k = jobKeys(names);
      const tags = new Set([...SITES.map((s) => hashTag(k.site(s).states)), ...Array.from({ length: TASKS }, (_, t) => hashTag(k.task(`CLT${t}`).task))]);
      const perMaster = await Promise.all(masters.map((m) => m.dbsize()));
      for (const n of perMaster) expect(n).toBeGreaterThan(0);
      expect(tags.size).toBe(SITES.length + TASKS);
    } finally {
      await dq.close();
    }
  }, 240_000);

  it("uses a pilot token in the claim's own step (use-claim-6.lua, the site's slot): a refused or spent token claims nothing", async () => {
    const store = new JobStore(redis, names);
    const dq = new DispatchQueues({ redis, names, lockMs: 60_000, stalledIntervalMs: 60_000 });
    const tokens = new PilotTokenStore(redis, names);
    const site = "CL_TOK";
    try {
      const specs = [0, 1, 2].map((i) => makeSpec({ taskId: "CLTOK", site }, i));
      await store.createTask({ taskId: "CLTOK", taskName: "CLTOK", kind: "production", vo: "atlas", group: "", ownerDn: specs[0].userDn, priority: 0, maxAttempts: 3, outputDataset: "out.CLTOK" }, specs.map((spec) => ({ spec, state: "activated" as const })));
      await dq.enqueue(specs);
      const acs = Object.keys(await dq.autoclusters(site));
      const use = (token: string) => ({ use: tokens.use(token, site, "pilot-1"), store: tokens });
      const code = (p: Promise<unknown>) => p.then(() => 0, (e: unknown) => (isWmsError(e) ? e.code : -1));
      expect(await code(dq.claim(site, acs, "p-forged", use("x".repeat(43))))).toBe(ERR.MATCH_TOKEN_REJECTED);
      const elsewhere = await tokens.mint({ site: "CL_ELSE", factoryId: "f1", uses: 5, ttlSec: 60 });
      expect(await code(dq.claim(site, acs, "p-else", use(elsewhere)))).toBe(ERR.SEC_TOKEN_WRONG_SITE);
      expect(await dq.waitingCount(site)).toBe(3);
      const once = await tokens.mint({ site, factoryId: "f1", uses: 1, ttlSec: 60 });
      expect((await dq.claim(site, acs, "p-once", use(once)))?.spec.site).toBe(site);
      expect(await code(dq.claim(site, acs, "p-once", use(once)))).toBe(ERR.SEC_TOKEN_SPENT);
      expect(await dq.waitingCount(site)).toBe(2);
      expect((await store.siteCounts(site)).sent).toBe(1);
      // A claim that passes over a job cancelled while queued retries without the token: one use spent.
      await store.transition(specs[1].jobId, "cancelled", ["activated"]);
      const twice = await tokens.mint({ site, factoryId: "f1", uses: 1, ttlSec: 60 });
      expect((await dq.claim(site, acs, "p-twice", use(twice)))?.spec.jobId).toBe(specs[2].jobId);
      expect(await code(dq.claim(site, acs, "p-twice", use(twice)))).toBe(ERR.SEC_TOKEN_SPENT);
    } finally {
      await dq.close();
    }
  }, 60_000);

  it("grows open tasks (consumed files and new jobs in one step of each task's slot) and closes them into their roll-up", async () => {
    const store = new JobStore(redis, names);
    const ids = Array.from({ length: 6 }, (_, t) => `CLO${t}`);
    for (const taskId of ids) {
      const prototype = makeSpec({ taskId, site: SITES[0] }, 0);
      await store.createTask({ taskId, taskName: taskId, kind: "production", vo: "atlas", group: "", ownerDn: prototype.userDn, priority: 0, maxAttempts: 3, outputDataset: `out.${taskId}` }, [], Date.now(), { plan: "{}", consumed: [], prototype });
    }
    expect((await store.openTaskIds()).sort()).toEqual(ids);
    for (const taskId of ids) {
      const jobs = [0, 1].map((i) => ({ spec: makeSpec({ taskId, site: SITES[i] }, i), state: "activated" as const, consumes: [`in\nf${i}`] }));
      expect(await store.growTask(taskId, 0, jobs)).toEqual({ outcome: "grown", njobs: 2, status: "active" });
      // A second planner that read the task before: refused, nothing consumed twice.
      expect(await store.growTask(taskId, 0, [{ ...jobs[0], consumes: ["in\nf9"] }])).toEqual({ outcome: "conflict" });
      for (const j of jobs) for (const [to, from] of [["sent", "activated"], ["running", "sent"], ["finished", "running"]] as const) await store.transition(j.spec.jobId, to, [from]);
      expect((await store.getTask(taskId))?.status).toBe("active");
      expect(await store.growTask(taskId, 2, [], { message: "inputs complete" })).toEqual({ outcome: "grown", njobs: 2, status: "done" });
      expect(await store.consumedCount(taskId)).toBe(2);
    }
    expect(await store.openTaskIds()).toEqual([]);
  }, 60_000);
});
