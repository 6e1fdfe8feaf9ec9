import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "../../platform/redis-client.ts";
import { openRedis } from "../../platform/connections.ts";
import { DispatchQueues, JobStore, RECONCILE_DUTY_FACTOR, Reconciler, autoclusterId, autoclusterKey, jobKeys, nextReconcileAt, type JobState } from "../../jobs/index.ts";
import { ERR } from "../../schemas/index.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole } from "../support/test-roles.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { createJobs } from "../matchmaker/fixtures.ts";

// As matchmaker: the matchmaker runs reconciliation.
const { config, names } = asRole(testConfig("reconcile"), "matchmaker");
let redis: RedisClient;
let dq: DispatchQueues;
let store: JobStore;

beforeAll(() => {
  redis = openRedis(config);
  dq = new DispatchQueues({ redis, names, lockMs: 30_000, stalledIntervalMs: 10_000 });
  store = new JobStore(redis, names);
});

afterAll(async () => {
  await dq.close();
  await deleteNamespaceKeys(redis, config.namespace);
  redis.disconnect();
});

async function truth(taskId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const j of await store.listJobs(taskId)) out[j.state] = (out[j.state] ?? 0) + 1;
  return out;
}

function nonZero(c: Record<JobState, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(c).filter(([, n]) => n !== 0));
}

describe("reconciliation", () => {
  it("repairs drifted counters and queue entries from the job records, and a second run repairs nothing", async () => {
    const site = "REC_A";
    const specs = await createJobs(store, { site }, 20);
    await dq.enqueue(specs);
    const ac = autoclusterId(autoclusterKey(specs[0]));
    // Three jobs run to the end, two stay running.
    const done: string[] = [];
    for (let i = 0; i < 5; i++) {
      const c = (await dq.claim(site, ac, `pilot-${i}`))!;
      await store.transition(c.spec.jobId, "running", ["sent"]);
      if (i < 3) {
        await store.transition(c.spec.jobId, "finished", ["running"]);
        await dq.complete(c.spec.jobId, c.lockToken);
        done.push(c.spec.jobId);
      }
    }
    const taskId = specs[0].taskId;
    const reconciler = new Reconciler(store, dq, { graceMs: 0 });
    expect((await reconciler.run()).repairs).toEqual([]);
    const before = await truth(taskId);
    expect(before).toEqual({ activated: 15, running: 2, finished: 3 });

    // The drift a Redis that lost its last writes leaves behind: a waiting entry lost, a finished
    // job's entry back in its ready set, a leased job's lease lost, counters off.
    const keys = jobKeys(names);
    const sk = keys.site(site);
    const lost = (await dq.waitingIds(site, ac))[0];
    expect(await redis.zrem(sk.ready(ac), lost)).toBe(1);
    await redis.zadd(sk.ready(ac), 1, done[0]);
    const running = (await store.listJobs(taskId, { state: "running" }))[0];
    await redis.hdel(sk.held, running.jobId);
    await redis.zrem(sk.lease, running.jobId);
    await redis.hincrby(keys.task(taskId).states, "activated", 7);
    await redis.hincrby(keys.task(taskId).states, "finished", -2);
    await redis.hset(sk.states, "running", "99");
    await redis.hincrby(sk.n, "waiting", 4);

    const s = await reconciler.run();
    expect(s.counts).toEqual({ "task-count": 1, "site-count": 1, "error-count": 0, "waiting-count": 1, "entry-restored": 1, "entry-dropped": 1, "lease-restored": 1 });
    expect(s.repairs).toContainEqual({ kind: "entry-restored", subject: lost, detail: "activated" });
    expect(s.repairs).toContainEqual({ kind: "entry-dropped", subject: done[0], detail: "finished" });
    expect(s.repairs).toContainEqual({ kind: "lease-restored", subject: running.jobId, detail: "running" });
    expect(s.jobsScanned).toBe(20);

    expect(nonZero(await store.taskCounts(taskId))).toEqual(before);
    expect(nonZero(await store.siteCounts(site))).toEqual(before);
    expect(await dq.waitingCount(site)).toBe(15);
    expect(await dq.waitingIds(site, ac)).toContain(lost);
    expect(await dq.waitingIds(site, ac)).not.toContain(done[0]);
    expect(await dq.leaseOf(site, running.jobId)).toBe(running.leaseToken);

    expect((await reconciler.run()).repairs).toEqual([]);

    // Every waiting job is offered exactly once, the lost one included, and nothing finished is.
    const claimed = new Set<string>();
    for (let c = await dq.claim(site, ac, "drain"); c; c = await dq.claim(site, ac, "drain")) claimed.add(c.spec.jobId);
    expect(claimed.size).toBe(15);
    expect(claimed.has(lost)).toBe(true);
    expect(claimed.has(done[0])).toBe(false);
    expect(await dq.waitingCount(site)).toBe(0);
  });

  it("repairs a task's error counts from its failed jobs; an operator's retry takes a failure back", async () => {
    const site = "REC_E";
    const specs = await createJobs(store, { site }, 4);
    const taskId = specs[0].taskId;
    await dq.enqueue([specs[3]]);
    // Two jobs fail with E1400, one with E1301; one stays waiting.
    for (const [i, code] of [ERR.PAYLOAD_FAILED, ERR.PAYLOAD_FAILED, ERR.STAGEOUT_NO_OUTPUT].entries()) {
      expect((await store.transition(specs[i].jobId, "failed", ["activated"], { errorCode: code })).moved).toBe(true);
    }
    const reconciler = new Reconciler(store, dq, { graceMs: 0 });
    expect(await store.taskErrors(taskId)).toEqual({ [ERR.PAYLOAD_FAILED]: 2, [ERR.STAGEOUT_NO_OUTPUT]: 1 });
    expect((await reconciler.run()).repairs).toEqual([]);

    // An operator's retry reopens one E1400 job: the task's count follows its records.
    expect((await store.reopen(specs[0].jobId, { attempt: 2 })).moved).toBe(true);
    await dq.enqueue([{ ...specs[0], attempt: 2 }]);
    expect(await store.taskErrors(taskId)).toEqual({ [ERR.PAYLOAD_FAILED]: 1, [ERR.STAGEOUT_NO_OUTPUT]: 1 });
    expect((await reconciler.run()).repairs).toEqual([]);

    // Drift a Redis that lost its last writes leaves behind: a failure counted twice, one never counted, a code no job has.
    const key = jobKeys(names).task(taskId).errors;
    await redis.hincrby(key, String(ERR.PAYLOAD_FAILED), 1);
    await redis.hdel(key, String(ERR.STAGEOUT_NO_OUTPUT));
    await redis.hset(key, String(ERR.TIMEOUT), "5");
    const s = await reconciler.run();
    expect(s.counts["error-count"]).toBe(1);
    expect(s.repairs).toContainEqual({ kind: "error-count", subject: taskId, detail: expect.stringContaining(`${ERR.PAYLOAD_FAILED}-1`) });
    const after = Object.fromEntries(Object.entries(await store.taskErrors(taskId)).filter(([, n]) => n !== 0));
    expect(after).toEqual({ [ERR.PAYLOAD_FAILED]: 1, [ERR.STAGEOUT_NO_OUTPUT]: 1 });
    expect((await reconciler.run()).repairs).toEqual([]);
  });

  it("leaves a job alone while its record is younger than the grace period", async () => {
    const site = "REC_B";
    const specs = await createJobs(store, { site }, 3);
    // Records written, entries not yet: an intake between its two steps.
    const s = await new Reconciler(store, dq, { graceMs: 60_000 }).run();
    expect(s.counts["entry-restored"]).toBe(0);
    await dq.enqueue(specs);
    expect((await new Reconciler(store, dq, { graceMs: 60_000 }).run()).repairs).toEqual([]);
    expect(await dq.waitingCount(site)).toBe(3);
  });

  it("reads a task that is over once, keeps its share of the site counts, and reads it again after a retry reopens it", async () => {
    const site = "REC_S";
    const specs = await createJobs(store, { site }, 4);
    const taskId = specs[0].taskId;
    // Every job failed 20 minutes ago: the task is over and has not changed since.
    const then = Date.now() - 20 * 60_000;
    for (const spec of specs) expect((await store.transition(spec.jobId, "failed", ["activated"], { errorCode: ERR.PAYLOAD_FAILED }, then)).moved).toBe(true);
    expect((await store.getTask(taskId))?.status).not.toBe("active");

    const reconciler = new Reconciler(store, dq, { graceMs: 0 });
    const first = await reconciler.run();
    expect(first.repairs).toEqual([]);
    const second = await reconciler.run();
    expect(second.repairs).toEqual([]);
    expect(first.jobsScanned - second.jobsScanned).toBe(4);

    // Its remembered share still counts: drift on the site's counters is repaired to the records' truth.
    const keys = jobKeys(names);
    const truthAtSite = nonZero(await store.siteCounts(site));
    await redis.hincrby(keys.site(site).states, "failed", 3);
    const s = await reconciler.run();
    expect(s.repairs).toContainEqual({ kind: "site-count", subject: site, detail: "failed-3" });
    expect(nonZero(await store.siteCounts(site))).toEqual(truthAtSite);

    // A retry reopens the task: its records are read again, and its counts follow them.
    expect((await store.reopen(specs[0].jobId, { attempt: 2 })).moved).toBe(true);
    await dq.enqueue([{ ...specs[0], attempt: 2 }]);
    const reopened = await reconciler.run();
    expect(reopened.jobsScanned - second.jobsScanned).toBe(4);
    expect(reopened.repairs).toEqual([]);
  });

  it("finds a job in the ready set its own record names when that is not its task's (a retry that changed its memory)", async () => {
    const site = "REC_O";
    const specs = await createJobs(store, { site }, 3);
    await dq.enqueue(specs);
    const [job] = specs;
    expect((await store.transition(job.jobId, "failed", ["activated"], { errorCode: ERR.PAYLOAD_FAILED })).moved).toBe(true);
    expect(await dq.remove(job.jobId)).toBe(true);
    // An operator's retry with more memory: the record's own spec puts it in another autocluster.
    const retried = { ...job, attempt: 2, memoryMb: job.memoryMb * 2 };
    expect((await store.reopen(job.jobId, { site, attempt: 2, spec: retried, pilotId: "", leaseToken: "" })).moved).toBe(true);
    await dq.enqueue([retried]);
    const [taskAc, ownAc] = [autoclusterId(autoclusterKey(job)), autoclusterId(autoclusterKey(retried))];
    expect(ownAc).not.toBe(taskAc);
    const reconciler = new Reconciler(store, dq, { graceMs: 0 });
    expect((await reconciler.run()).repairs).toEqual([]);

    // Its entry lost: put back where its record says, not where its task's other jobs wait.
    await redis.zrem(jobKeys(names).site(site).ready(ownAc), job.jobId);
    const s = await reconciler.run();
    expect(s.repairs).toContainEqual({ kind: "entry-restored", subject: job.jobId, detail: "activated" });
    expect(await dq.waitingIds(site, ownAc)).toEqual([job.jobId]);
    expect(await dq.waitingIds(site, taskAc)).not.toContain(job.jobId);
    expect((await reconciler.run()).repairs).toEqual([]);
  });

  it("waits between passes the interval, or ten times as long as the last pass took when that is longer", async () => {
    expect(RECONCILE_DUTY_FACTOR).toBe(10);
    expect(nextReconcileAt(1_000, 2_000, 60_000)).toBe(61_000);
    expect(nextReconcileAt(1_000, 20_000, 60_000)).toBe(201_000);
    const reconciler = new Reconciler(store, dq, { graceMs: 0 });
    expect(reconciler.nextPassAt(60_000)).toBe(0);
    const before = Date.now();
    const s = await reconciler.run();
    const next = reconciler.nextPassAt(60_000);
    expect(next).toBeGreaterThanOrEqual(before + Math.max(60_000, RECONCILE_DUTY_FACTOR * s.durationMs));
  });

  it("lets one matchmaker at a time reconcile, and stops a run when asked", async () => {
    const other = new DispatchQueues({ redis, names, lockMs: 30_000, stalledIntervalMs: 10_000 });
    try {
      expect(await dq.leadReconciliation(5_000)).toBe(true);
      expect(await other.leadReconciliation(5_000)).toBe(false);
      expect(await dq.leadReconciliation(5_000)).toBe(true);
      await redis.del(jobKeys(names).reconciler);
      expect(await other.leadReconciliation(5_000)).toBe(true);
      expect(await dq.leadReconciliation(5_000)).toBe(false);
    } finally {
      await other.close();
    }
    await expect(new Reconciler(store, dq, { graceMs: 0 }).run({ signal: AbortSignal.abort() })).rejects.toThrow(/abort/i);
  });
});
