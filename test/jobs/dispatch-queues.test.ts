import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "../../platform/redis-client.ts";
import { openRedis } from "../../platform/connections.ts";
import { DispatchQueues, jobKeys, MAX_UNCONFIRMED_GIVE_BACKS, parseLockToken } from "../../jobs/index.ts";
import { autoclusterId, autoclusterKey } from "../../jobs/index.ts";
import { JobStore } from "../../jobs/index.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole } from "../support/test-roles.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { createJobs } from "../matchmaker/fixtures.ts";
import { ERR, isWmsError } from "../../schemas/index.ts";
import { PilotTokenStore, REPORT_KEY_SEAL_PURPOSE, SealVerifier } from "../../security/index.ts";
import { testReportKeySealer, testReportKeySeals } from "../reports/support/job-fixture.ts";

// As intake: the intake queues jobs and the matchmaker claims them; both roles have the same Redis rights.
const { config, names } = asRole(testConfig("dispatch"), "intake");
let redis: RedisClient;
let dq: DispatchQueues;
let store: JobStore;

beforeAll(() => {
  redis = openRedis(config);
  dq = new DispatchQueues({ redis, names, lockMs: 800, stalledIntervalMs: 300 });
  store = new JobStore(redis, names);
});

afterAll(async () => {
  await dq.close();
  await deleteNamespaceKeys(redis, config.namespace);
  redis.disconnect();
});

describe("dispatch queues", () => {
  it("queues jobs per site and autocluster, counts them, and hands each out once", async () => {
    const specs = await createJobs(store, { site: "SITE_A" }, 5);
    await dq.enqueue(specs);
    expect(await dq.waitingCount("SITE_A")).toBe(5);
    const ac = autoclusterId(autoclusterKey(specs[0]));
    expect(Object.keys(await dq.autoclusters("SITE_A"))).toEqual([ac]);
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const c = await dq.claim("SITE_A", ac, `pilot-${i}`);
      expect(c).toBeDefined();
      seen.add(c!.spec.jobId);
      expect((await store.getJob(c!.spec.jobId))?.state).toBe("sent");
      expect(parseLockToken(c!.lockToken)).toEqual({ site: "SITE_A", autocluster: ac });
      expect(await dq.complete(c!.spec.jobId, c!.lockToken)).toBe(true);
    }
    expect(seen.size).toBe(5);
    expect(await dq.claim("SITE_A", ac, "pilot-x")).toBeUndefined();
    expect(await dq.waitingCount("SITE_A")).toBe(0);
    expect(await dq.recountWaiting("SITE_A")).toBe(0);
  });

  it("removes a job cancelled while queued so no pilot gets it", async () => {
    const specs = await createJobs(store, { site: "SITE_R" }, 2);
    await dq.enqueue(specs);
    expect(await dq.remove(specs[0].jobId)).toBe(true);
    expect(await dq.remove(specs[0].jobId)).toBe(false);
    expect(await dq.waitingCount("SITE_R")).toBe(1);
    const c = await dq.claim("SITE_R", autoclusterId(autoclusterKey(specs[0])), "p");
    expect(c?.spec.jobId).toBe(specs[1].jobId);
    expect(await dq.remove(specs[1].jobId)).toBe(false);
  });

  it("binds the pilot's report key to the claim before the claim is returned", async () => {
    const sealed = new DispatchQueues({ redis, names, lockMs: 800, stalledIntervalMs: 300, reportKeySealer: testReportKeySealer });
    const reader = new JobStore(redis, names, { reportKeySeals: new SealVerifier(testReportKeySeals, REPORT_KEY_SEAL_PURPOSE) });
    try {
      const specs = await createJobs(store, { site: "SITE_B" }, 1);
      await sealed.enqueue(specs);
      const ac = autoclusterId(autoclusterKey(specs[0]));
      const reportKey = "A".repeat(59) + "=";
      const c = await sealed.claim("SITE_B", [ac], { pilotId: "pilot-b", reportKey });
      expect(c?.spec.jobId).toBe(specs[0].jobId);
      // The record's report key reads back only when the matchmaker's seal over it was written.
      expect((await reader.getJob(specs[0].jobId))?.reportKey).toBe(reportKey);
    } finally {
      await sealed.close();
    }
  });

  it("spends one use of a pilot token when its claim passes over a job cancelled while queued", async () => {
    const tokens = new PilotTokenStore(redis, names);
    const specs = await createJobs(store, { site: "SITE_T" }, 3);
    await dq.enqueue(specs);
    const ac = autoclusterId(autoclusterKey(specs[0]));
    await store.transition(specs[0].jobId, "cancelled", ["activated"]);
    const token = await tokens.mint({ site: "SITE_T", factoryId: "f1", uses: 2, ttlSec: 60 });
    const use = () => ({ use: tokens.use(token, "SITE_T", "pilot-1"), store: tokens });
    expect((await dq.claim("SITE_T", [ac], "p-t", use()))?.spec.jobId).toBe(specs[1].jobId);
    expect((await dq.claim("SITE_T", [ac], "p-t", use()))?.spec.jobId).toBe(specs[2].jobId);
    const third = await dq.claim("SITE_T", [ac], "p-t", use()).then(() => 0, (e: unknown) => (isWmsError(e) ? e.code : -1));
    expect(third).toBe(ERR.SEC_TOKEN_SPENT);
    expect((await store.getJob(specs[0].jobId))?.state).toBe("cancelled");
  });

  it("refuses lock extension and completion with a token that does not hold the lock", async () => {
    const specs = await createJobs(store, { site: "SITE_L" }, 1);
    await dq.enqueue(specs);
    const c = await dq.claim("SITE_L", autoclusterId(autoclusterKey(specs[0])), "p");
    expect(c).toBeDefined();
    const forged = c!.lockToken.replace(/\.[0-9a-f]+\./, ".00112233445566778899aabb.");
    expect(await dq.extendLock(specs[0].jobId, forged, 5000)).toBe(false);
    expect(await dq.extendLock(specs[0].jobId, "garbage-token", 5000)).toBe(false);
    expect(await dq.complete(specs[0].jobId, forged)).toBe(false);
    expect(await dq.extendLock(specs[0].jobId, c!.lockToken, 5000)).toBe(true);
    expect(await dq.release(specs[0].jobId, c!.lockToken)).toBe(true);
  });

  it("requeues a job whose lock ran out with its attempt raised, and fails it after its last attempt", async () => {
    const specs = await createJobs(store, { site: "SITE_S", maxAttempts: 2 }, 1);
    const jobId = specs[0].jobId;
    const ac = autoclusterId(autoclusterKey(specs[0]));
    await dq.enqueue(specs);
    const outcomes: string[] = [];
    await dq.startStalledChecks((id, outcome) => id === jobId && outcomes.push(outcome));
    const first = await dq.claim("SITE_S", ac, "p1");
    expect(first?.attempt).toBe(1);
    // Its pilot confirmed the claim (its first heartbeat), then went silent.
    expect(await dq.confirmClaim(jobId, { attempt: 1, leaseToken: first!.lockToken, pilotId: "p1" })).toBe(true);
    // An 800 ms lock checked every 300 ms runs out in about a second; the bounds are only how long
    // a loaded CI machine may take to get there, nothing here asserts how soon.
    await expect.poll(() => outcomes.length, { timeout: 20_000, interval: 100 }).toBe(1);
    expect(outcomes[0]).toBe("requeued");
    const rec = await store.getJob(jobId);
    expect(rec?.state).toBe("activated");
    expect(rec?.attempt).toBe(2);
    expect(await dq.waitingCount("SITE_S")).toBe(1);
    const second = await dq.claim("SITE_S", ac, "p2");
    expect(second?.attempt).toBe(2);
    expect(second?.spec.attempt).toBe(2);
    expect(await dq.confirmClaim(jobId, { attempt: 2, leaseToken: second!.lockToken, pilotId: "p2" })).toBe(true);
    await expect.poll(() => outcomes.length, { timeout: 20_000, interval: 100 }).toBe(2);
    expect(outcomes[1]).toBe("failed");
    const failed = await store.getJob(jobId);
    expect(failed?.state).toBe("failed");
    expect(failed?.errorCode).toBe(1104);
    expect(await dq.claim("SITE_S", ac, "p3")).toBeUndefined();
  }, 60_000);

  /** Queues of a namespace of their own with their own lease check (this file's `dq` checks its sites with its own callback). */
  async function ownQueues(label: string, run: (q: DispatchQueues, st: JobStore, outcomes: string[]) => Promise<void>): Promise<void> {
    const own = asRole(testConfig(label), "intake").names;
    const q = new DispatchQueues({ redis, names: own, lockMs: 800, stalledIntervalMs: 300 });
    const outcomes: string[] = [];
    try {
      await q.startStalledChecks((_, outcome) => outcomes.push(outcome));
      await run(q, new JobStore(redis, own), outcomes);
    } finally {
      await q.close();
      await deleteNamespaceKeys(redis, own.namespace);
    }
  }

  it("gives a claim no pilot confirmed back with its attempt unchanged, and a claim given back can no longer be confirmed", async () => {
    await ownQueues("dispatch-unconfirmed", async (q, st, outcomes) => {
      const specs = await createJobs(st, { site: "SITE_U", maxAttempts: 2 }, 1);
      const jobId = specs[0].jobId;
      const ac = autoclusterId(autoclusterKey(specs[0]));
      await q.enqueue(specs);
      // The reply never reached its pilot: nobody confirms, and the claim's first lease runs out.
      const lost = await q.claim("SITE_U", ac, "p-unheard");
      await expect.poll(() => outcomes, { timeout: 20_000, interval: 100 }).toEqual(["given-back"]);
      expect(await st.getJob(jobId)).toMatchObject({ state: "activated", attempt: 1, unconfirmed: 1 });
      expect(await q.waitingCount("SITE_U")).toBe(1);
      // Its pilot's confirmation, had the reply reached it late, is refused: it runs nothing.
      expect(await q.confirmClaim(jobId, { attempt: 1, leaseToken: lost!.lockToken, pilotId: "p-unheard" })).toBe(false);
      // The next claim is the same attempt; its pilot confirms before anything gives it back.
      const next = await q.claim("SITE_U", ac, "p-next");
      expect(next?.attempt).toBe(1);
      expect(await q.confirmClaim(jobId, { attempt: 1, leaseToken: next!.lockToken, pilotId: "p-next" })).toBe(true);
      expect(await q.giveBack({ jobId, lockToken: next!.lockToken, site: "SITE_U", autocluster: ac, attempt: 1 })).toBe(false);
      expect(await st.getJob(jobId)).toMatchObject({ state: "starting", attempt: 1, pilotId: "p-next" });
      expect(await q.release(jobId, next!.lockToken)).toBe(true);
    });
  }, 60_000);

  it("after MAX_UNCONFIRMED_GIVE_BACKS claims nobody confirmed, takes the next for a lost pilot's: a new attempt", async () => {
    await ownQueues("dispatch-unconfirmed-max", async (q, st, outcomes) => {
      const specs = await createJobs(st, { site: "SITE_W", maxAttempts: 3 }, 1);
      const jobId = specs[0].jobId;
      const ac = autoclusterId(autoclusterKey(specs[0]));
      await q.enqueue(specs);
      for (let i = 1; i <= MAX_UNCONFIRMED_GIVE_BACKS + 1; i++) {
        expect((await q.claim("SITE_W", ac, `p${i}`))?.attempt).toBe(1);
        await expect.poll(() => outcomes.length, { timeout: 20_000, interval: 100 }).toBe(i);
      }
      expect(outcomes).toEqual([...Array<string>(MAX_UNCONFIRMED_GIVE_BACKS).fill("given-back"), "requeued"]);
      expect(await st.getJob(jobId)).toMatchObject({ state: "activated", attempt: 2, errorCode: ERR.PILOT_LOST_HEARTBEAT });
    });
  }, 90_000);

  it("does not take a lease that ran out while no matchmaker checked for a silent pilot: its pilot gets the whole lease again", async () => {
    // A namespace of its own: this file's other queues check every site of theirs.
    const own = asRole(testConfig("dispatch-gap"), "intake").names;
    const ownStore = new JobStore(redis, own);
    const specs = await createJobs(ownStore, { site: "SITE_V" }, 1);
    const jobId = specs[0].jobId;
    const ac = autoclusterId(autoclusterKey(specs[0]));
    // A lease of 3 s, so that the beat 0.5 s after the checker came back has 2.5 s to spare on a
    // loaded machine (with 1 s it had about half a second).
    const lockMs = 3000;
    const opts = { redis, names: own, lockMs, stalledIntervalMs: 100 };
    const before = new DispatchQueues(opts);
    const outcomes: string[] = [];
    const after = new DispatchQueues(opts);
    try {
      await before.enqueue(specs);
      await before.startStalledChecks();
      const claim = await before.claim("SITE_V", ac, "p-alive");
      expect(claim).toBeDefined();
      expect(await before.confirmClaim(jobId, { attempt: 1, leaseToken: claim!.lockToken, pilotId: "p-alive" })).toBe(true);
      // It runs a few checks while the pilot beats, then every matchmaker goes away (killed, restarting)
      // for longer than the lease: no heartbeat can be heard meanwhile.
      await new Promise((r) => setTimeout(r, 400));
      expect(await before.extendLock(jobId, claim!.lockToken, lockMs)).toBe(true);
      await before.close();
      await new Promise((r) => setTimeout(r, lockMs + 1500));
      await after.startStalledChecks((id, outcome) => id === jobId && outcomes.push(outcome));
      // Several checks run; the pilot's next heartbeat (0.5 s later) still finds its job.
      await new Promise((r) => setTimeout(r, 500));
      expect(outcomes).toEqual([]);
      expect(await after.extendLock(jobId, claim!.lockToken, lockMs)).toBe(true);
      expect((await ownStore.getJob(jobId))?.attempt).toBe(1);
      // Silent from now on with a checker there: the lease runs out and the job is requeued as before.
      await expect.poll(() => outcomes, { timeout: 20_000, interval: 100 }).toEqual(["requeued"]);
      expect((await ownStore.getJob(jobId))?.attempt).toBe(2);
    } finally {
      await before.close();
      await after.close();
      await deleteNamespaceKeys(redis, own.namespace);
    }
  });

  it("claims from the autoclusters it was asked for even when the caller changes its list while the claim waits", async () => {
    const site = "SITE_LIST";
    // The first autocluster's only entry has no record (dropped, so the claim tries again); the second holds a real job.
    const [orphan] = await createJobs(store, { site, cores: 1 }, 1);
    const [real] = await createJobs(store, { site, cores: 2 }, 1);
    await dq.enqueue([orphan, real]);
    await redis.del(jobKeys(names).task(orphan.taskId).job(orphan.jobId));
    const acs = [autoclusterId(autoclusterKey(orphan)), autoclusterId(autoclusterKey(real))];
    const claiming = dq.claim(site, acs, "pilot-list");
    acs.splice(0, 2);
    const claimed = await claiming;
    expect(claimed?.spec.jobId).toBe(real.jobId);
  });
});
