// Jobs in the JobStore and on the real dispatch queues, claimed as a matchmaker would, for the
// job-state agent tests.
import { randomBytes } from "node:crypto";
import type { JobSpec } from "../../../schemas/index.ts";

type FileRef = JobSpec["inputFiles"][number];
import type { JobStore } from "../../../jobs/index.ts";
import type { ClaimedJob, DispatchQueues } from "../../../jobs/index.ts";
import { autoclusterId, autoclusterKey } from "../../../jobs/index.ts";
import { fixedSealKeys, generateReportKey, newSealKey, REPORT_KEY_SEAL_PURPOSE, sealReportKey, ServiceSealer, signReport, type ReportKeyPair, type SignableReport } from "../../../security/index.ts";

export function jobSpec(taskId: string, index: number, o: { site: string; maxAttempts?: number; inputFiles?: FileRef[]; memoryMb?: number }): JobSpec {
  return {
    schemaVersion: 1,
    jobId: `${taskId}.${index}`,
    taskId,
    taskName: `task-${taskId}`,
    kind: "production",
    vo: "atlas",
    group: "prod",
    userDn: "/DC=org/CN=Jane Doe",
    priority: 100,
    site: o.site,
    executable: "/bin/true",
    arguments: [],
    environment: {},
    requirements: "",
    rank: "",
    cores: 1,
    memoryMb: o.memoryMb ?? 1000,
    walltimeSec: 600,
    inputFiles: o.inputFiles ?? [],
    outputDataset: "out.ds",
    attempt: 1,
    maxAttempts: o.maxAttempts ?? 3,
  };
}

/** Records a task of `n` activated jobs and queues them. */
export async function submitJobs(store: JobStore, dq: DispatchQueues, n: number, o: { site: string; maxAttempts?: number; inputFiles?: FileRef[]; memoryMb?: number }): Promise<JobSpec[]> {
  const taskId = `T${randomBytes(4).toString("hex")}`;
  const specs = Array.from({ length: n }, (_, i) => jobSpec(taskId, i, o));
  await store.createTask(
    { taskId, taskName: `task-${taskId}`, kind: "production", vo: "atlas", group: "prod", ownerDn: "/DC=org/CN=Jane Doe", priority: 100, maxAttempts: o.maxAttempts ?? 3, outputDataset: "out.ds" },
    specs.map((spec) => ({ spec, state: "activated" as const })),
  );
  await dq.enqueue(specs);
  return specs;
}

/** The report key of the tests' pilots: bound to every claim `claimJob` makes, as the matchmaker binds an advertised one. */
export const testPilotKey: ReportKeyPair = generateReportKey();

/** A report as the pilot holding its attempt sends it: signed with `testPilotKey`. */
export function signedByPilot<R extends SignableReport>(r: R): R {
  return signReport(r, testPilotKey.privateKey);
}

/**
 * The report-key seal keys of tests that claim without a matchmaker: their DispatchQueues seal with
 * `testReportKeySealer` and their agents check with `testReportKeySeals`, as the matchmaker and the
 * agents share the deployment's report-key key.
 */
export const testReportKeySeals = fixedSealKeys(newSealKey());
export const testReportKeySealer = new ServiceSealer(testReportKeySeals, REPORT_KEY_SEAL_PURPOSE);

/** Claims the job from the queue its (current) spec belongs to, as the matchmaker does for a pilot (binding `reportKey`, by default the tests' pilot key). */
export async function claimJob(store: JobStore, dq: DispatchQueues, jobId: string, pilotId: string, reportKey = testPilotKey.publicKey): Promise<ClaimedJob> {
  const job = await store.getJob(jobId);
  if (!job) throw new Error(`no job ${jobId}`);
  const claimed = await dq.claim(job.site, autoclusterId(autoclusterKey(job.spec)), { pilotId, reportKey });
  if (!claimed || claimed.spec.jobId !== jobId) throw new Error(`could not claim ${jobId} at ${job.site}`);
  return claimed;
}

/**
 * A job record claimed by `pilotId` under `lockToken` with `reportKey` bound to attempt 1, written
 * straight to the store (no queue): for tests whose pilot or reports stand in for the matchmaker's.
 */
export async function recordClaimedJob(store: JobStore, o: { pilotId: string; lockToken: string; reportKey?: string; site?: string; spec?: JobSpec; sealer?: ServiceSealer }): Promise<JobSpec> {
  const spec = o.spec ?? jobSpec(`T${randomBytes(4).toString("hex")}`, 0, { site: o.site ?? "SITE_A" });
  const taskId = spec.taskId;
  await store.createTask(
    { taskId, taskName: `task-${taskId}`, kind: "production", vo: "atlas", group: "prod", ownerDn: spec.userDn, priority: 100, maxAttempts: 3, outputDataset: "out.ds" },
    [{ spec, state: "activated" }],
  );
  const moved = await store.transition(spec.jobId, "sent", ["activated"], {
    pilotId: o.pilotId,
    leaseToken: o.lockToken,
    reportKey: o.reportKey ?? testPilotKey.publicKey,
    reportKeySeal: sealReportKey(o.sealer ?? testReportKeySealer, { jobId: spec.jobId, leaseToken: o.lockToken, reportKey: o.reportKey ?? testPilotKey.publicKey }),
  });
  if (!moved.moved) throw new Error(`could not record the claim of ${spec.jobId}`);
  return spec;
}
