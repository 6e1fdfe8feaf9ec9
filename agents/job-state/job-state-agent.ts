// The job-state agent: state reports from pilots move jobs through the JobStore (sent → starting →
// running → finished / failed) and keep the dispatch queues in step (complete the claim, release it,
// or queue the next attempt). Every move is a guarded JobStore transition, so a report delivered
// twice, late or out of order changes nothing a second time: "running" after "finished" finds the
// job final and does not move it; a report of an earlier attempt is ignored.
//
// Only state reports move jobs: a failure is `state: "failed"` with its `errorCode`. Error reports
// (which may not name a job, or an attempt) are the error log: kept in a capped list and logged.
import type { Logger } from "pino";
import { ERR, WmsError, type ErrorReport, type JobSpec, type StateReport } from "../../schemas/index.ts";
import { isFinal, type JobRecord, type JobState, type JobStore } from "../../jobs/index.ts";
import type { CappedReportList, ReportContext } from "../reports/index.ts";
import { decideFailure, describeCode } from "./retry-policy.ts";
import type { Rebroker } from "./job-rebroker.ts";

/** The part of matchmaker/dispatch-queues.ts DispatchQueues the agent uses. */
export interface JobDispatch {
  enqueue(specs: readonly JobSpec[]): Promise<void>;
  complete(jobId: string, lockToken: string): Promise<boolean>;
  release(jobId: string, lockToken: string): Promise<boolean>;
}

export interface JobStateDeps {
  jobs: JobStore;
  dispatch: JobDispatch;
  rebroker: Rebroker;
  logger: Logger;
}

/** What one report did, for logs and tests. */
export type StateOutcome = "moved" | "retried" | "failed" | "stale" | "ignored" | "repaired";

const LIVE: readonly JobState[] = ["sent", "starting", "running"];

export async function applyStateReport(d: JobStateDeps, r: StateReport, ctx: Pick<ReportContext, "redelivered">): Promise<StateOutcome> {
  const job = await d.jobs.getJob(r.jobId);
  if (!job) throw new WmsError(ERR.REPORT_UNKNOWN_JOB, `state report ${r.reportId} from pilot ${r.pilotId} names job ${r.jobId}`);
  if (r.attempt !== job.attempt) {
    // A redelivered failure whose retry was recorded but maybe not queued (the agent died in
    // between): queue it again. enqueue() skips a job id already waiting, so this cannot double it.
    if (ctx.redelivered && r.state === "failed" && job.state === "activated" && job.attempt === r.attempt + 1) {
      await d.dispatch.enqueue([job.spec]);
      return "repaired";
    }
    d.logger.debug({ jobId: r.jobId, reportAttempt: r.attempt, jobAttempt: job.attempt, state: r.state }, "report of an earlier attempt ignored");
    return "stale";
  }
  switch (r.state) {
    case "starting":
      return (await d.jobs.transition(r.jobId, "starting", ["sent"], { pilotId: r.pilotId, startedAt: r.at })).moved ? "moved" : "stale";
    case "running":
      return (await d.jobs.transition(r.jobId, "running", ["sent", "starting"], { pilotId: r.pilotId, startedAt: job.startedAt ?? r.at })).moved ? "moved" : "stale";
    case "finished": {
      const wallSec = job.startedAt !== undefined ? Math.max(0, (r.at - job.startedAt) / 1000) : undefined;
      const t = await d.jobs.transition(r.jobId, "finished", LIVE, { endedAt: r.at, wallSec });
      await dropClaim(d, r, "complete");
      return t.moved ? "moved" : "stale";
    }
    case "failed":
      return fail(d, r, job);
    case "cancelled": {
      const t = await d.jobs.transition(r.jobId, "cancelled", LIVE, { endedAt: r.at, errorMessage: r.message ?? "cancelled while running" });
      await dropClaim(d, r, "release");
      return t.moved ? "moved" : "stale";
    }
    default:
      // defined / activated / sent are the intake's and the matchmaker's to set, never a pilot's.
      d.logger.warn({ jobId: r.jobId, state: r.state, pilotId: r.pilotId }, "a pilot reported a state only the services set; ignored");
      return "ignored";
  }
}

async function fail(d: JobStateDeps, r: StateReport, job: JobRecord): Promise<StateOutcome> {
  const code = r.errorCode ?? ERR.INTERNAL;
  const message = r.message ?? "the pilot gave no message";
  if (!LIVE.includes(job.state)) {
    // Already final (cancelled by its owner, or this report's first delivery did it): the claim may
    // still be held, drop it; the record stays as it is.
    if (isFinal(job.state)) await dropClaim(d, r, "release");
    return "stale";
  }
  const decision = decideFailure({ code, message, attempt: job.attempt, maxAttempts: job.spec.maxAttempts });
  if (decision.action === "fail") {
    const t = await d.jobs.transition(r.jobId, "failed", LIVE, { errorCode: decision.code, errorMessage: decision.message.slice(0, 4096), endedAt: r.at });
    await dropClaim(d, r, "release");
    if (t.moved) d.logger.info({ jobId: r.jobId, code: decision.code, attempt: job.attempt }, "job failed");
    return t.moved ? "failed" : "stale";
  }
  const next = await d.rebroker({ ...job.spec, attempt: job.attempt }, job.attempt);
  // Record first, then release, then queue: the matchmaker can only claim the job once its record
  // says activated, and the old BullMQ entry must be gone before the same job id is added again.
  // A crash after the record moved is repaired on redelivery (see applyStateReport).
  const t = await d.jobs.transition(r.jobId, "activated", LIVE, {
    site: next.site,
    attempt: next.attempt,
    spec: next,
    pilotId: "",
    errorCode: code,
    errorMessage: `attempt ${job.attempt} failed with ${describeCode(code)}: ${message}`.slice(0, 4096),
  });
  if (!t.moved) return "stale";
  await dropClaim(d, r, "release");
  await d.dispatch.enqueue([next]);
  d.logger.info({ jobId: r.jobId, code, attempt: next.attempt, site: next.site, from: job.site }, "job requeued for another attempt");
  return "retried";
}

async function dropClaim(d: JobStateDeps, r: StateReport, how: "complete" | "release"): Promise<void> {
  if (!r.lockToken) return; // a pilot that never held a claim (or an old one) has nothing to drop
  const ok = how === "complete" ? await d.dispatch.complete(r.jobId, r.lockToken) : await d.dispatch.release(r.jobId, r.lockToken);
  if (!ok) d.logger.debug({ jobId: r.jobId, how }, "claim already gone");
}

/** Error reports: log them and keep them where the monitor can show them. */
export async function recordErrorReport(log: CappedReportList<ErrorReport>, logger: Logger, r: ErrorReport, once: { seenKey: string; ttlSec: number }): Promise<boolean> {
  const added = await log.push(r, once);
  if (added) logger.warn({ code: r.code, name: r.name, jobId: r.jobId, pilotId: r.pilotId, site: r.site }, `pilot error: ${r.message}`);
  return added;
}
