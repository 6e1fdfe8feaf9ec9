// Leases mean liveness: lease expiry requeues a job whose pilot went silent while its payload could
// still be running, never a job whose payload ended (holding); a holding job waits for its report up
// to the holding timeout. Every update is fenced by attempt and lease token.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "../../platform/redis-client.ts";
import { openRedis } from "../../platform/connections.ts";
import { DispatchQueues, JobStore, LEASED_STATES, PILOT_STATES, autoclusterId, autoclusterKey, type ClaimedJob, type Fence } from "../../jobs/index.ts";
import { ERR } from "../../schemas/index.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole } from "../support/test-roles.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { createJobs } from "../matchmaker/fixtures.ts";

const LEASE_MS = 600;
const CHECK_MS = 200;
const HOLDING_TIMEOUT_MS = 4000;
// The polls below wait for what these short periods bring about; their bounds are generous because
// a loaded CI machine slows the checks, and nothing asserts how soon.
// As matchmaker: the matchmaker holds and renews leases.
const { config, names } = asRole(testConfig("leases"), "matchmaker");
let redis: RedisClient;
let dq: DispatchQueues;
let store: JobStore;
const outcomes: Array<[string, string]> = [];

beforeAll(async () => {
  redis = openRedis(config);
  dq = new DispatchQueues({ redis, names, lockMs: LEASE_MS, stalledIntervalMs: CHECK_MS, holdingTimeoutMs: HOLDING_TIMEOUT_MS });
  store = new JobStore(redis, names);
  await dq.startStalledChecks((id, o) => outcomes.push([id, o]));
});

afterAll(async () => {
  await dq.close();
  await deleteNamespaceKeys(redis, config.namespace);
  redis.disconnect();
});

const fenceOf = (c: ClaimedJob, pilotId: string): Fence => ({ attempt: c.attempt, leaseToken: c.lockToken, pilotId });
const staleCount = async (): Promise<number> => (await store.errorCounts())[String(ERR.JOB_STALE_UPDATE)] ?? 0;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function claimOne(site: string, pilotId: string): Promise<ClaimedJob> {
  const [spec] = await createJobs(store, { site, maxAttempts: 3 }, 1);
  await dq.enqueue([spec]);
  const c = await dq.claim(site, autoclusterId(autoclusterKey(spec)), pilotId);
  if (!c) throw new Error("no claim");
  return c;
}

describe("leases and fencing", () => {
  it("never requeues a holding job on lease expiry, and applies its final report however late", async () => {
    const c = await claimOne("SITE_H", "pilot-h");
    const jobId = c.spec.jobId;
    const fence = fenceOf(c, "pilot-h");
    expect((await store.transition(jobId, "running", ["sent", "starting"], {}, Date.now(), undefined, undefined, fence)).moved).toBe(true);
    expect((await store.transition(jobId, "holding", LEASED_STATES, {}, Date.now(), undefined, undefined, fence)).moved).toBe(true);
    // No heartbeat for many leases: the report is late (agents or RabbitMQ down), the pilot is gone.
    await sleep(LEASE_MS * 4 + CHECK_MS * 4);
    expect(await store.getJob(jobId)).toMatchObject({ state: "holding", attempt: 1 });
    expect(await dq.waitingCount("SITE_H")).toBe(0);
    expect(await dq.claim("SITE_H", autoclusterId(autoclusterKey(c.spec)), "pilot-other")).toBeUndefined();
    const t = await store.transition(jobId, "finished", PILOT_STATES, { endedAt: Date.now() }, Date.now(), undefined, undefined, fence);
    expect(t).toMatchObject({ moved: true, stale: false, from: "holding" });
    expect(await store.getJob(jobId)).toMatchObject({ state: "finished", attempt: 1 });
    expect(await store.holdingSince(Date.now() + 1)).not.toContain(jobId);
  });

  it("fails a holding job with JOB_HOLDING_TIMEOUT when no report comes within the holding timeout", async () => {
    const c = await claimOne("SITE_T", "pilot-t");
    const fence = fenceOf(c, "pilot-t");
    await store.transition(c.spec.jobId, "holding", LEASED_STATES, {}, Date.now(), undefined, undefined, fence);
    await expect.poll(async () => (await store.getJob(c.spec.jobId))?.state, { timeout: HOLDING_TIMEOUT_MS + 16_000, interval: 200 }).toBe("failed");
    expect(await store.getJob(c.spec.jobId)).toMatchObject({ attempt: 1, errorCode: ERR.JOB_HOLDING_TIMEOUT });
    expect((await store.errorCounts())[String(ERR.JOB_HOLDING_TIMEOUT)]).toBe(1);
  });

  it("requeues a running job whose lease expired as a new attempt; the old pilot's updates are refused and counted", async () => {
    const c = await claimOne("SITE_R", "pilot-old");
    const jobId = c.spec.jobId;
    const old = fenceOf(c, "pilot-old");
    await store.transition(jobId, "running", ["sent", "starting"], {}, Date.now(), undefined, undefined, old);
    await expect.poll(async () => (await store.getJob(jobId))?.state, { timeout: 20_000, interval: 100 }).toBe("activated");
    expect(await store.getJob(jobId)).toMatchObject({ attempt: 2, leaseToken: undefined });
    const c2 = await dq.claim("SITE_R", autoclusterId(autoclusterKey(c.spec)), "pilot-new");
    expect(c2?.attempt).toBe(2);
    expect(c2?.lockToken).not.toBe(c.lockToken);
    const before = await staleCount();
    // The old pilot comes back: its heartbeat fence check, its final report and its accounting fence are stale.
    expect((await store.checkFence(jobId, old)).verdict).toBe("stale");
    expect(await store.transition(jobId, "finished", PILOT_STATES, {}, Date.now(), undefined, undefined, old)).toMatchObject({ moved: false, stale: true });
    expect((await store.checkFence(jobId, old, { endedReportedOk: true })).verdict).toBe("stale");
    expect(await staleCount()).toBe(before + 3);
    // A right token from the wrong pilot is stale too; the new claim's own update applies.
    expect((await store.checkFence(jobId, { ...fenceOf(c2!, "pilot-new"), pilotId: "pilot-old" })).verdict).toBe("stale");
    expect((await store.transition(jobId, "running", ["sent"], {}, Date.now(), undefined, undefined, fenceOf(c2!, "pilot-new"))).moved).toBe(true);
    expect(await store.attempts(jobId)).toEqual([expect.objectContaining({ attempt: 1, pilotId: "pilot-old", ended: "lost", errorCode: String(ERR.PILOT_LOST_HEARTBEAT) })]);
  });
});
