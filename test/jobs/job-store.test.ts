import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobStore } from "../../jobs/index.ts";
import type { JobSpec } from "../../schemas/index.ts";
import { openRedis } from "../../platform/connections.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole } from "../support/test-roles.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";

// As intake: the intake records tasks and jobs.
const { config, names } = asRole(testConfig("jobstore"), "intake");
const redis = openRedis(config);
const store = new JobStore(redis, names);

function spec(taskId: string, i: number, site: string): JobSpec {
  return {
    schemaVersion: 1, jobId: `${taskId}.${String(i).padStart(6, "0")}`, taskId, taskName: "t", kind: "production", vo: "atlas", group: "",
    userDn: "/CN=Jane", priority: 0, site, executable: "/bin/true", arguments: [], environment: {}, requirements: "true", rank: "0",
    cores: 1, memoryMb: 100, walltimeSec: 60, inputFiles: [], outputDataset: "o", attempt: 1, maxAttempts: 3,
  };
}

beforeAll(async () => {
  await store.createTask(
    { taskId: "T1", taskName: "t", kind: "production", vo: "atlas", group: "", ownerDn: "/CN=Jane", priority: 5, maxAttempts: 3, outputDataset: "o" },
    [
      { spec: spec("T1", 0, "A"), state: "activated" },
      { spec: spec("T1", 1, "B"), state: "activated" },
      { spec: spec("T1", 2, "A"), state: "failed", errorCode: 1600, errorMessage: "no replica" },
    ],
  );
});

afterAll(async () => {
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
});

describe("job store", () => {
  it("records every job of a task with its state, and counts per task, per site and per error code", async () => {
    expect(await store.taskCounts("T1")).toMatchObject({ activated: 2, failed: 1 });
    expect(await store.siteCounts("A")).toMatchObject({ activated: 1 });
    expect(await store.taskErrors("T1")).toEqual({ "1600": 1 });
    expect((await store.listJobs("T1")).map((j) => j.state)).toEqual(["activated", "activated", "failed"]);
    expect((await store.getTask("T1"))?.status).toBe("active");
  });

  it("moves a job only from an allowed state, so a stale report changes nothing", async () => {
    const id = "T1.000000";
    expect((await store.transition(id, "running", ["sent", "starting"])).moved).toBe(false);
    expect((await store.transition(id, "sent", ["activated"], { pilotId: "p1" })).moved).toBe(true);
    const again = await store.transition(id, "sent", ["activated"], { pilotId: "p2" });
    expect(again).toMatchObject({ moved: false, stale: false, from: "sent" });
    expect((await store.getJob(id))?.pilotId).toBe("p1");
    expect(await store.siteCounts("A")).toMatchObject({ activated: 0, sent: 1 });
  });

  it("marks the task final once every job is final", async () => {
    await store.transition("T1.000000", "sent", ["activated"]);
    await store.transition("T1.000000", "finished", ["sent"], { endedAt: 1 });
    expect((await store.getTask("T1"))?.status).toBe("active");
    await store.transition("T1.000001", "failed", ["activated"], { errorCode: 1400, errorMessage: "exit 1" });
    expect((await store.getTask("T1"))?.status).toBe("partial");
    expect(await store.taskErrors("T1")).toEqual({ "1600": 1, "1400": 1 });
    expect(await store.errorCounts()).toEqual({ "1600": 1, "1400": 1 });
    // A retry re-opens the task.
    await store.reopen("T1.000001", { attempt: 2, site: "A" });
    expect((await store.getTask("T1"))?.status).toBe("active");
    expect(await store.siteCounts("B")).toMatchObject({ failed: 0, activated: 0 });
  });

  it("keeps the failure a reopened job ended with in its attempt history, whoever reopens it", async () => {
    expect((await store.reopen("T1.000002", { attempt: 2 })).moved).toBe(true);
    expect(await store.attempts("T1.000002")).toEqual([expect.objectContaining({ attempt: 1, state: "failed", ended: "reported", errorCode: "1600", message: "no replica" })]);
  });

  it("admits an ended attempt's late record with the site that attempt ran at and the job's spec, read with its fence", async () => {
    await store.createTask({ taskId: "T9", taskName: "t9", kind: "production", vo: "atlas", group: "", ownerDn: "/CN=Jane", priority: 0, maxAttempts: 3, outputDataset: "o" }, [{ spec: spec("T9", 0, "A"), state: "activated" }]);
    const jobId = "T9.000000";
    const first = { attempt: 1, leaseToken: "token-1", pilotId: "pilot-1" };
    await store.transition(jobId, "sent", ["activated"], { leaseToken: first.leaseToken, pilotId: first.pilotId });
    // Its pilot reports a failure; the job is retried at site B.
    const retried = await store.transition(jobId, "activated", ["sent"], { attempt: 2, site: "B", leaseToken: "", pilotId: "", errorCode: 1401 }, Date.now(), undefined, undefined, first);
    expect(retried.moved).toBe(true);
    // Attempt 1's accounting record, late: attributed to A, where it ran, and to the job's owner.
    expect(await store.checkFence(jobId, first, { endedReportedOk: true, withSpec: true })).toMatchObject({ verdict: "ended", site: "A", spec: { jobId, userDn: "/CN=Jane", walltimeSec: 60 } });
    expect((await store.checkFence(jobId, first, { endedReportedOk: true })).spec).toBeUndefined();
    const second = { attempt: 2, leaseToken: "token-2", pilotId: "pilot-2" };
    await store.transition(jobId, "sent", ["activated"], { leaseToken: second.leaseToken, pilotId: second.pilotId });
    expect(await store.checkFence(jobId, second, { withSpec: true })).toMatchObject({ verdict: "current", site: "B", spec: { jobId, vo: "atlas" } });
    // A stale record gets neither.
    const stale = await store.checkFence(jobId, { ...first, leaseToken: "made-up" }, { endedReportedOk: true, withSpec: true });
    expect(stale).toEqual({ verdict: "stale", state: "sent" });
  });

  it("reads the attempt histories of many jobs of several tasks in one call, as each job's own", async () => {
    const many = await store.attemptsOf(["T1.000002", "T9.000000", "T1.000000"]);
    expect(many.get("T1.000002")).toEqual(await store.attempts("T1.000002"));
    expect(many.get("T9.000000")?.map((a) => [a.attempt, a.site, a.pilotId, a.errorCode])).toEqual([[1, "A", "pilot-1", "1401"]]);
    expect(many.get("T1.000000")).toEqual([]);
    expect(await store.attemptsOf([])).toEqual(new Map());
  });
});
