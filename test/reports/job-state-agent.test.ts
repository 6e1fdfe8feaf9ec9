import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { supervise } from "../../agents/pilot/payload-supervisor.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RedisClient } from "../../platform/redis-client.ts";
import { ReportPublisher, DEAD_LETTER_HEADERS } from "../../agents/reports/index.ts";
import { applyStateReport, sameSiteRebroker, startAgents, type AgentsHandle } from "../../agents/job-state/index.ts";
import { DispatchQueues } from "../../jobs/index.ts";
import { JobStore } from "../../jobs/index.ts";
import { ReplicaCatalogStore } from "../../matchmaker/replica-catalog.ts";
import { SiteRegistry } from "../../matchmaker/site-registry.ts";
import { ERR, type StateReport } from "../../schemas/index.ts";
import { openRedis } from "../../platform/connections.ts";
import { createLogger } from "../../platform/logger.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole, roleEnv, roleRabbitUrl } from "../support/test-roles.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { drainQueue, removeTopology, waitFor } from "./support/rabbit-fixture.ts";
import { stateReport } from "./support/report-factory.ts";
import { runCli } from "../support/run-cli.ts";
import { expectUsageError } from "../support/usage-error-line.ts";
import { claimJob, signedByPilot, submitJobs, testReportKeySealer, testReportKeySeals } from "./support/job-fixture.ts";

// The agents' identity: they declare the reports topology, consume it and may publish to it (dead
// letters), so the publishers and raw readers here log in as the agents do (pilots may only publish
// into a topology that exists: report-publisher.test.ts checks that with the pilot's identity).
const loaded = asRole(testConfig("jobstate"), "agents");
const { config, names } = loaded;
const url = roleRabbitUrl(loaded, "agents");
const logger = createLogger("test", "silent");
const spool = mkdtempSync(join(tmpdir(), "wms-jobstate-"));
let redis: RedisClient;
let dq: DispatchQueues;
let store: JobStore;
let agents: AgentsHandle;
let publisher: ReportPublisher;

beforeAll(async () => {
  redis = openRedis(config);
  dq = new DispatchQueues({ redis, names, lockMs: 30_000, stalledIntervalMs: 30_000, reportKeySealer: testReportKeySealer });
  store = new JobStore(redis, names);
  await new SiteRegistry(redis, names).publish({
    schemaVersion: 1,
    sites: ["SITE_A", "SITE_B", "SITE_C"].map((name) => ({ name, storagePath: `/tmp/${name}`, online: name !== "SITE_C", identitySwitch: "off" as const, capacity: 10, softwareTags: [], authz: [], mapping: [] })),
  });
  agents = await startAgents({ config, names, redis, dispatch: dq, logger, only: ["job-state"], reportKeySealKeys: testReportKeySeals });
  publisher = new ReportPublisher({ url, names, spoolDir: spool, logger });
});

afterAll(async () => {
  await agents.stop();
  await publisher.close();
  await dq.close();
  await removeTopology(url, names);
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  rmSync(spool, { recursive: true, force: true });
});

async function report(jobId: string, state: StateReport["state"], claim: { lockToken: string; attempt: number }, extra: Partial<StateReport> = {}): Promise<StateReport> {
  const job = await store.getJob(jobId);
  const r = signedByPilot(stateReport({ jobId, taskId: job?.taskId ?? "x", state, attempt: claim.attempt, lockToken: claim.lockToken, pilotId: job?.pilotId || "pilot-1", site: job?.site ?? "SITE_A", ...extra }));
  await publisher.publish(r);
  return r;
}

const stateOf = async (jobId: string): Promise<string | undefined> => (await store.getJob(jobId))?.state;

describe("job-state agent", () => {
  it("moves jobs sent → starting → running → finished, completes their claims and marks the task done", async () => {
    const specs = await submitJobs(store, dq, 2, { site: "SITE_A" });
    for (const s of specs) {
      const c = await claimJob(store, dq, s.jobId, "pilot-ok");
      await report(s.jobId, "starting", c);
      await waitFor(async () => (await stateOf(s.jobId)) === "starting", 10_000, "starting");
      await report(s.jobId, "running", c);
      await waitFor(async () => (await stateOf(s.jobId)) === "running", 10_000, "running");
      await report(s.jobId, "finished", c);
      await waitFor(async () => (await stateOf(s.jobId)) === "finished", 10_000, "finished");
      // The claim goes right after the record moves: the token stops holding a lock.
      await waitFor(async () => !(await dq.extendLock(s.jobId, c.lockToken, 30_000)), 10_000, "claim completed");
      const job = await store.getJob(s.jobId);
      expect(job?.wallSec).toBeGreaterThanOrEqual(0);
      expect(job?.endedAt).toBeDefined();
    }
    await waitFor(async () => (await store.getTask(specs[0].taskId))?.status === "done", 10_000, "task done");
    expect(await store.taskCounts(specs[0].taskId)).toMatchObject({ finished: 2, running: 0, sent: 0 });
  });

  it("requeues a retryable failure with attempt + 1 at a site holding the data, then fails it with RETRY_MAX_ATTEMPTS keeping the code", async () => {
    const file = { lfn: "data/f1.root", dataset: "ds.retry", size: 10, adler32: "0000abcd", md5: "0123456789abcdef0123456789abcdef" };
    // The inputs are at SITE_B (online) and SITE_C (offline); the job starts at SITE_A where stage-in fails.
    await new ReplicaCatalogStore(redis, names).addFiles("ds.retry", [file], ["SITE_B", "SITE_C"]);
    const [spec] = await submitJobs(store, dq, 1, { site: "SITE_A", maxAttempts: 2, inputFiles: [file] });
    const c1 = await claimJob(store, dq, spec.jobId, "pilot-1");
    await report(spec.jobId, "failed", c1, { errorCode: ERR.STAGEIN_FILE_MISSING, message: "data/f1.root not in storage" });
    // Queued is the last step of a retry (after the record moved and the old claim was released).
    await waitFor(async () => (await dq.waitingCount("SITE_B")) === 1, 10_000, "requeued at SITE_B");
    const retried = await store.getJob(spec.jobId);
    expect(retried).toMatchObject({ state: "activated", attempt: 2, site: "SITE_B", errorCode: ERR.STAGEIN_FILE_MISSING });
    expect(retried?.spec).toMatchObject({ attempt: 2, site: "SITE_B" });

    const c2 = await claimJob(store, dq, spec.jobId, "pilot-2");
    expect(c2.attempt).toBe(2);
    await report(spec.jobId, "failed", c2, { errorCode: ERR.STAGEIN_FILE_MISSING, message: "still missing" });
    await waitFor(async () => (await stateOf(spec.jobId)) === "failed", 10_000, "failed for good");
    const failed = await store.getJob(spec.jobId);
    expect(failed?.errorCode).toBe(ERR.RETRY_MAX_ATTEMPTS);
    expect(failed?.errorMessage).toContain("E1201 STAGEIN_FILE_MISSING");
    expect(failed?.errorMessage).toContain("attempt 2 of 2");
    expect(await store.taskErrors(spec.taskId)).toEqual({ [ERR.RETRY_MAX_ATTEMPTS]: 1 });
    expect((await store.getTask(spec.taskId))?.status).toBe("broken");
    await waitFor(async () => !(await dq.extendLock(spec.jobId, c2.lockToken, 30_000)), 10_000, "last claim released");
    expect(await dq.waitingCount("SITE_B")).toBe(0);
  });

  it("re-runs a payload the pilot's supervisor killed over its memory with 1.5 times the memory", async () => {
    const [spec] = await submitJobs(store, dq, 1, { site: "SITE_A", memoryMb: 64 });
    const c1 = await claimJob(store, dq, spec!.jobId, "pilot-oom");
    // The pilot's own enforcement: the supervisor polls the payload tree's RSS against the claimed
    // spec's memory and kills it with PAYLOAD_MEMORY_EXCEEDED (the payload allocates 200 MB).
    const child = spawn(process.execPath, ["-e", "const b=Buffer.alloc(200*1024*1024,1);setInterval(()=>b[0]++,100)"], { detached: true, stdio: "ignore" });
    const outcome = await supervise(child, { walltimeSec: 60, memoryMb: c1.spec.memoryMb, pollMs: 100, graceMs: 500 }).done;
    expect(outcome.killedFor?.code).toBe(ERR.PAYLOAD_MEMORY_EXCEEDED);
    await report(spec!.jobId, "failed", c1, { errorCode: outcome.killedFor!.code, message: outcome.killedFor!.reason });
    await waitFor(async () => (await store.getJob(spec!.jobId))?.attempt === 2, 10_000, "second attempt");
    const second = await store.getJob(spec!.jobId);
    expect(second?.state).toBe("activated");
    expect(second?.spec.memoryMb).toBe(96);
    // What the next pilot is handed asks for more: the queued entry is the larger job's.
    const c2 = await claimJob(store, dq, spec!.jobId, "pilot-oom-2");
    expect(c2.attempt).toBe(2);
    expect(c2.spec.memoryMb).toBe(96);
    await report(spec!.jobId, "failed", c2, { errorCode: ERR.PAYLOAD_FAILED, message: "exit code 3" });
    await waitFor(async () => (await stateOf(spec!.jobId)) === "failed", 10_000, "failed");

    // `wms task status` shows both attempts, in text and in JSON, read through the real CLI.
    // `wms task status`, `wms job show/list`: an operator's (or the task owner's) commands.
    const env = { ...roleEnv("operator"), WMS_NAMESPACE: names.namespace, WMS_CONFIG: undefined };
    const json = await runCli(["task", "status", spec!.taskId, "--json"], { env });
    expect(json.code).toBe(0);
    const view = JSON.parse(json.stdout) as { attempts: Array<{ jobId: string; state: string; attempts: Array<{ attempt: number; site: string; pilotId: string; code: number | null; name: string | null; message: string }> }> };
    expect(view.attempts).toHaveLength(1);
    expect(view.attempts[0]).toMatchObject({ jobId: spec!.jobId, state: "failed" });
    expect(view.attempts[0]!.attempts.map((a) => [a.attempt, a.site, a.pilotId, a.code])).toEqual([
      [1, "SITE_A", "pilot-oom", ERR.PAYLOAD_MEMORY_EXCEEDED],
      [2, "SITE_A", "pilot-oom-2", ERR.PAYLOAD_FAILED],
    ]);
    expect(view.attempts[0]!.attempts[0]!.message).toContain("64 MB");
    const text = await runCli(["task", "status", spec!.taskId], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/#1\s+SITE_A\s+pilot-oom\s+\S+\s+E1402 PAYLOAD_MEMORY_EXCEEDED/);
    expect(text.stdout).toMatch(/#2\s+SITE_A\s+pilot-oom-2\s+failed\s+E1400 PAYLOAD_FAILED/);

    // `wms job show` and `wms job list`, through the real CLI and the jobs port.
    const show = JSON.parse((await runCli(["job", "show", spec!.jobId, "--json"], { env })).stdout) as { state: string; spec: { memoryMb: number }; attempts: Array<{ attempt: number; pilotId: string; code: number | null }>; timings: { createdAt: number } };
    expect(show.state).toBe("failed");
    expect(show.spec.memoryMb).toBe(96);
    expect(show.attempts.map((a) => [a.attempt, a.pilotId, a.code])).toEqual([
      [1, "pilot-oom", ERR.PAYLOAD_MEMORY_EXCEEDED],
      [2, "pilot-oom-2", ERR.PAYLOAD_FAILED],
    ]);
    expect(show.timings.createdAt).toBeGreaterThan(0);
    const showText = await runCli(["job", "show", spec!.jobId], { env });
    expect(showText.stdout).toContain("96 MB");
    expect(showText.stdout).toMatch(/#1\s+SITE_A\s+pilot-oom\s+.*E1402 PAYLOAD_MEMORY_EXCEEDED/);
    const listed = JSON.parse((await runCli(["job", "list", "--task", spec!.taskId, "--state", "failed", "--code", "PAYLOAD_FAILED", "--json"], { env })).stdout) as { total: number; jobs: Array<{ jobId: string; code: number }> };
    expect(listed.total).toBe(1);
    expect(listed.jobs[0]).toMatchObject({ jobId: spec!.jobId, code: ERR.PAYLOAD_FAILED });
    // Asked for the first attempt's cause, the job is found by its attempt history, not only its last code.
    const byCause = JSON.parse((await runCli(["job", "list", "--task", spec!.taskId, "--state", "failed", "--code", "PAYLOAD_MEMORY_EXCEEDED", "--json"], { env })).stdout) as { total: number; jobs: Array<{ jobId: string; code: number }> };
    expect(byCause.jobs.map((j) => [j.jobId, j.code])).toEqual([[spec!.jobId, ERR.PAYLOAD_FAILED]]);
    const none = JSON.parse((await runCli(["job", "list", "--task", spec!.taskId, "--state", "running", "--json"], { env })).stdout) as { total: number };
    expect(none.total).toBe(0);
    expectUsageError(await runCli(["job", "list", "--state", "bogus"], { env }), "unknown state");
    expectUsageError(await runCli(["job", "list", "--code", "E9999"], { env }), "unknown code");
  }, 120_000);

  it("fails a non-retryable failure at once, with its own code", async () => {
    const [spec] = await submitJobs(store, dq, 1, { site: "SITE_A", maxAttempts: 3 });
    const c = await claimJob(store, dq, spec.jobId, "pilot-x");
    await report(spec.jobId, "running", c);
    await report(spec.jobId, "failed", c, { errorCode: ERR.PAYLOAD_FAILED, message: "exit code 3" });
    await waitFor(async () => (await stateOf(spec.jobId)) === "failed", 10_000, "failed");
    expect(await store.getJob(spec.jobId)).toMatchObject({ attempt: 1, errorCode: ERR.PAYLOAD_FAILED });
    expect((await store.getJob(spec.jobId))?.errorMessage).toContain("exit code 3");
    await waitFor(async () => !(await dq.extendLock(spec.jobId, c.lockToken, 30_000)), 10_000, "claim released");
  });

  it("finds a job that failed its only attempt with a retryable code by that code, though it ended with RETRY_MAX_ATTEMPTS, also once retried", async () => {
    const [spec] = await submitJobs(store, dq, 1, { site: "SITE_A", maxAttempts: 1 });
    const c = await claimJob(store, dq, spec.jobId, "pilot-once");
    await report(spec.jobId, "failed", c, { errorCode: ERR.PILOT_KILLED, message: "killed by the batch system" });
    await waitFor(async () => (await stateOf(spec.jobId)) === "failed", 10_000, "failed");
    expect(await store.getJob(spec.jobId)).toMatchObject({ attempt: 1, errorCode: ERR.RETRY_MAX_ATTEMPTS, causeCode: ERR.PILOT_KILLED });
    const env = { ...roleEnv("operator"), WMS_NAMESPACE: names.namespace, WMS_CONFIG: undefined };
    const list = async (code: string): Promise<Array<[string, number | null]>> => {
      const r = await runCli(["job", "list", "--task", spec.taskId, "--code", code, "--json"], { env });
      expect(r.stderr).toBe("");
      return (JSON.parse(r.stdout) as { jobs: Array<{ jobId: string; code: number | null }> }).jobs.map((j) => [j.jobId, j.code]);
    };
    expect(await list("PILOT_KILLED")).toEqual([[spec.jobId, ERR.RETRY_MAX_ATTEMPTS]]);
    expect(await list(String(ERR.RETRY_MAX_ATTEMPTS))).toEqual([[spec.jobId, ERR.RETRY_MAX_ATTEMPTS]]);
    expect(await list("PAYLOAD_FAILED")).toEqual([]);
    // An operator's retry: the cause goes with the attempt that failed with it, and the job is still found by it.
    expect((await store.reopen(spec.jobId, { attempt: 2 })).moved).toBe(true);
    expect((await store.getJob(spec.jobId))?.causeCode).toBeUndefined();
    expect(await store.attempts(spec.jobId)).toEqual([expect.objectContaining({ attempt: 1, state: "failed", errorCode: String(ERR.PILOT_KILLED) })]);
    expect(await list("PILOT_KILLED")).toEqual([[spec.jobId, ERR.RETRY_MAX_ATTEMPTS]]);
  });

  it("refuses a late report of an earlier attempt (counted under JOB_STALE_UPDATE) and ignores a redelivered report", async () => {
    const [spec] = await submitJobs(store, dq, 1, { site: "SITE_A", maxAttempts: 3 });
    const c1 = await claimJob(store, dq, spec.jobId, "pilot-1");
    const processed = agents.consumers.state.stats.processed;
    const failure = await report(spec.jobId, "failed", c1, { errorCode: ERR.PILOT_KILLED });
    // Acked (so its seen key is set), not merely applied.
    await waitFor(() => agents.consumers.state.stats.processed > processed, 10_000, "failure acked");
    expect(await store.getJob(spec.jobId)).toMatchObject({ state: "activated", attempt: 2 });
    const before = agents.consumers.state.stats.duplicates;
    await publisher.publish(failure); // the same report again: seen, changes nothing
    const c2 = await claimJob(store, dq, spec.jobId, "pilot-2");
    await report(spec.jobId, "running", c2);
    await waitFor(async () => (await stateOf(spec.jobId)) === "running", 10_000, "attempt 2 running");
    await report(spec.jobId, "failed", { lockToken: c1.lockToken, attempt: 1 }, { errorCode: ERR.PILOT_KILLED }); // late, attempt 1
    await report(spec.jobId, "finished", c2);
    await waitFor(async () => (await stateOf(spec.jobId)) === "finished", 10_000, "attempt 2 finished");
    expect(agents.consumers.state.stats.duplicates - before).toBe(1);
    expect(await store.getJob(spec.jobId)).toMatchObject({ state: "finished", attempt: 2 });
    expect(await store.taskCounts(spec.taskId)).toMatchObject({ finished: 1, failed: 0, activated: 0 });
    expect((await store.errorCounts())[String(ERR.JOB_STALE_UPDATE)]).toBeGreaterThanOrEqual(1);
    expect(await store.attempts(spec.jobId)).toEqual([expect.objectContaining({ attempt: 1, pilotId: "pilot-1", ended: "reported", errorCode: String(ERR.PILOT_KILLED) })]);
    // `wms job show` of the finished job: the first attempt's failure is said to be that attempt's,
    // not the job's 'last code', and the logs are one command away.
    const shown = await runCli(["job", "show", spec.jobId], { env: { ...roleEnv("operator"), WMS_NAMESPACE: names.namespace, WMS_CONFIG: undefined } });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).not.toContain("last code");
    expect(shown.stdout).toMatch(/\n {2}earlier {3}E\d+ PILOT_KILLED: .*\(attempt 1; this attempt is finished\)\n/);
    expect(shown.stdout).toMatch(/\n {2}#2 {2}SITE_A {2}pilot-2 {2}finished {2}-\n/);
    expect(shown.stdout.trimEnd().split("\n").at(-1)).toBe(`logs: wms job log ${spec.jobId} [--attempt N]`);
  }, 120_000);

  it("requeues a preempted attempt (PILOT_PREEMPTED) without spending the job's only attempt", async () => {
    const [spec] = await submitJobs(store, dq, 1, { site: "SITE_A", maxAttempts: 1 });
    const c1 = await claimJob(store, dq, spec.jobId, "pilot-1");
    await report(spec.jobId, "failed", c1, { errorCode: ERR.PILOT_PREEMPTED });
    await waitFor(async () => (await store.getJob(spec.jobId))?.attempt === 2, 10_000, "preempted attempt requeued");
    expect(await store.getJob(spec.jobId)).toMatchObject({ state: "activated", attempt: 2, preemptions: 1, errorCode: ERR.PILOT_PREEMPTED });
    expect((await store.getJob(spec.jobId))?.spec.maxAttempts).toBe(2);
    // Its own failure then spends the one attempt it had.
    const c2 = await claimJob(store, dq, spec.jobId, "pilot-2");
    await report(spec.jobId, "failed", c2, { errorCode: ERR.STAGEIN_FAILED });
    await waitFor(async () => (await stateOf(spec.jobId)) === "failed", 10_000, "attempt 2 failed for good");
    expect(await store.getJob(spec.jobId)).toMatchObject({ state: "failed", attempt: 2, errorCode: ERR.RETRY_MAX_ATTEMPTS });
  });

  it("queues a retry again when its failure report is redelivered after the agent died between recording and queueing", async () => {
    const [spec] = await submitJobs(store, dq, 1, { site: "SITE_A", maxAttempts: 3 });
    const c1 = await claimJob(store, dq, spec.jobId, "pilot-1");
    const failure = signedByPilot(stateReport({ jobId: spec.jobId, taskId: spec.taskId, state: "failed", attempt: 1, lockToken: c1.lockToken, errorCode: ERR.PILOT_KILLED }));
    // The crash: the record moved to the next attempt (under the report's fence, as the agent
    // moves it) and the claim was dropped, the enqueue never ran.
    const next = { ...spec, attempt: 2 };
    await store.transition(spec.jobId, "activated", ["sent"], { attempt: 2, spec: next, pilotId: "", leaseToken: "" }, Date.now(), spec.taskId, undefined, { attempt: 1, leaseToken: c1.lockToken, pilotId: "pilot-1" });
    await dq.release(spec.jobId, c1.lockToken);
    const deps = { jobs: store, dispatch: dq, rebroker: sameSiteRebroker(), logger };
    expect(await applyStateReport(deps, failure, { redelivered: false })).toBe("stale");
    expect(await applyStateReport(deps, failure, { redelivered: true })).toBe("repaired");
    const c2 = await claimJob(store, dq, spec.jobId, "pilot-2");
    expect(c2.attempt).toBe(2);
  });

  it("registers a finished job's outputs under its output dataset at its site, once however often the report comes", async () => {
    const [s] = await submitJobs(store, dq, 1, { site: "SITE_B" });
    const c = await claimJob(store, dq, s.jobId, "pilot-out");
    const outputs = [
      { lfn: `out.ds/${s.jobId}/a.txt`, size: 12, adler32: "1a2b3c4d", md5: "0123456789abcdef0123456789abcdef" },
      { lfn: `out.ds/${s.jobId}/b.txt`, size: 0, adler32: "00000001", md5: "d41d8cd98f00b204e9800998ecf8427e" },
    ];
    const r = await report(s.jobId, "finished", c, { outputs });
    await waitFor(async () => (await stateOf(s.jobId)) === "finished", 10_000, "finished");
    const catalog = new ReplicaCatalogStore(redis, names);
    const mine = async (): Promise<unknown[]> => ((await catalog.listDataset("out.ds")) ?? []).filter((f) => f.lfn.startsWith(`out.ds/${s.jobId}/`));
    expect(await mine()).toEqual(outputs.map((o) => ({ ...o, sites: ["SITE_B"] })));
    // The same report again (a redelivery): the job is final, nothing is added or changed.
    await publisher.publish(signedByPilot({ ...r, reportId: `${r.reportId}x` }));
    await publisher.publish(signedByPilot(stateReport({ jobId: s.jobId, taskId: s.taskId, state: "running", attempt: c.attempt, lockToken: c.lockToken, pilotId: "pilot-out", site: "SITE_B" })));
    await new Promise((res) => setTimeout(res, 300));
    expect(await mine()).toEqual(outputs.map((o) => ({ ...o, sites: ["SITE_B"] })));
  });

  it("dead-letters a report naming a job that does not exist, with code 1901", async () => {
    const ghost = stateReport({ jobId: "no-such-job", state: "running" });
    const before = agents.consumers.state.stats.deadLettered;
    await publisher.publish(ghost);
    await waitFor(() => agents.consumers.state.stats.deadLettered > before, 10_000, "dead-lettered");
    const dead = await drainQueue(url, names.rabbit.queues.deadLetter);
    const mine = dead.find((m) => m.properties.messageId === ghost.reportId);
    expect(mine?.properties.headers?.[DEAD_LETTER_HEADERS.code]).toBe(ERR.REPORT_UNKNOWN_JOB);
    expect(String(mine?.properties.headers?.[DEAD_LETTER_HEADERS.reason])).toContain("no-such-job");
  });
});
