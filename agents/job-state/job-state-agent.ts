// The job-state agent: state reports from pilots move jobs through the JobStore (sent → starting →
// running → finished / failed) and keep the dispatch queues in step (complete the claim, release it,
// or queue the next attempt). Every move is a guarded JobStore transition, so a report delivered
// twice, late or out of order changes nothing a second time: "running" after "finished" finds the
// job final and does not move it; a report of an earlier attempt or another lease is refused by
// the job store's fence and counted (JOB_STALE_UPDATE).
//
// Only state reports move jobs: a failure is `state: "failed"` with its `errorCode`. Error reports
// (which may not name a job, or an attempt) are the error log: kept in a capped list and logged.
import type { Logger } from "pino";
import { ERR, WmsError, type ErrorReport, type JobSpec, type StateReport } from "../../schemas/index.ts";
import { LEASED_STATES, PILOT_STATES, isFinal, type Fence, type JobPatch, type JobRecord, type JobState, type JobStore, type TransitionResult } from "../../jobs/index.ts";
import { requireAttemptSignature, type CappedReportList, type ReportContext } from "../reports/index.ts";
import { decideFailure, describeCode } from "./retry-policy.ts";
import type { Rebroker } from "./job-rebroker.ts";

/** The part of jobs/ DispatchQueues the agent uses. */
export interface JobDispatch {
  enqueue(specs: readonly JobSpec[]): Promise<void>;
  complete(jobId: string, lockToken: string): Promise<boolean>;
  release(jobId: string, lockToken: string): Promise<boolean>;
}

/** The part of matchmaker/ ReplicaCatalogStore the agent uses to register outputs. */
export interface OutputCatalog {
  addFiles(dataset: string, files: ReadonlyArray<{ lfn: string; size: number; adler32: string; md5: string }>, sites: readonly string[]): Promise<void>;
}

export interface JobStateDeps {
  jobs: JobStore;
  dispatch: JobDispatch;
  rebroker: Rebroker;
  logger: Logger;
  /** Where a finished job's outputs are registered (under its output dataset, at its site); none: not registered. */
  catalog?: OutputCatalog;
}

/** What one report did, for logs and tests. `stale`: refused by the fence (counted under JOB_STALE_UPDATE). */
export type StateOutcome = "moved" | "retried" | "failed" | "stale" | "ignored" | "repaired";

const outcomeOf = (t: TransitionResult): StateOutcome => (t.moved ? "moved" : t.stale ? "stale" : "ignored");

/**
 * Applies one state report. Every move is fenced by the report's attempt, lease token and pilot
 * (the job store refuses a stale one atomically and counts it); a late final report of the current
 * attempt is applied however late, because neither holding nor lease expiry changes the fence.
 */
export async function applyStateReport(d: JobStateDeps, r: StateReport, ctx: Pick<ReportContext, "redelivered">): Promise<StateOutcome> {
  const job = await d.jobs.getJob(r.jobId);
  if (!job) throw new WmsError(ERR.REPORT_UNKNOWN_JOB, `state report ${r.reportId} from pilot ${r.pilotId} names job ${r.jobId}`);
  const fence: Fence = { attempt: r.attempt, leaseToken: r.lockToken, pilotId: r.pilotId };
  // Only the pilot that holds the attempt moves the job: a report naming the current attempt and
  // lease token must carry that attempt's signature (the token alone travels in envelopes and
  // heartbeats others can see). One naming anything else is refused by the fence below, unsigned or not.
  if (r.attempt === job.attempt && r.lockToken === job.leaseToken) requireAttemptSignature(r, job);
  // A redelivered report (an agent died after applying it, before its ack) of an attempt that its own
  // pilot's failure report ended: that failure was applied, and this is it or a report from before
  // it. It changes nothing, and it is no stale update either: refusing it would count an E1904 no
  // pilot sent and dead-letter a report that was applied. One lease expiry ended is `lost`, not
  // reported, so a lost pilot's late reports still go to the fence below and are refused.
  if (ctx.redelivered && r.attempt < job.attempt) {
    const ended = await d.jobs.checkFence(r.jobId, fence, { endedReportedOk: true });
    if (ended.verdict !== "ended") return "stale";
    requireAttemptSignature(r, ended);
    // A failure whose retry was recorded but maybe not queued (the agent died in between): queue it
    // again. enqueue() skips a job id already waiting, so this cannot double it.
    if (r.state === "failed" && job.state === "activated" && job.attempt === r.attempt + 1) {
      await d.dispatch.enqueue([job.spec]);
      return "repaired";
    }
    return "ignored";
  }
  const move = (to: JobState, from: readonly JobState[], patch: JobPatch = {}): Promise<TransitionResult> => d.jobs.transition(r.jobId, to, from, patch, Date.now(), job.taskId, undefined, fence);
  let t: TransitionResult;
  switch (r.state) {
    case "starting":
    case "running":
      // `starting` opens the attempt's start (an earlier attempt's is replaced), `running` keeps it.
      t = r.state === "starting" ? await move("starting", ["sent"], { startedAt: r.at }) : await move("running", ["sent", "starting"], { startedAt: job.startedAt ?? r.at });
      // Late: the record moved past this state (the heartbeat's holding, or the final report, came
      // first while this one waited in a spool or a queue). Its start time is still the job's.
      if (!t.moved && !t.stale && job.startedAt === undefined) await d.jobs.noteStarted(r.jobId, r.at, fence);
      break;
    case "holding":
      t = await move("holding", LEASED_STATES);
      break;
    case "transferring":
      t = await move("transferring", ["running", "holding"]);
      break;
    case "finished": {
      // Outputs are registered before the job moves, so a task that rolls up to `done` has every
      // file in the catalog (a chained task reads them then). Registering the same files again is a
      // no-op, so a redelivered report, or a crash between the two steps, leaves one entry each.
      if (d.catalog !== undefined && r.outputs !== undefined && r.outputs.length > 0 && r.attempt === job.attempt && !isFinal(job.state)) {
        try {
          await d.catalog.addFiles(job.spec.outputDataset, r.outputs, [r.site]);
        } catch (e) {
          // A file the catalog holds with other checksums is not this job's to overwrite; the job
          // still finished, so it moves, and the operator reads why its outputs are missing.
          if (!(e instanceof WmsError)) throw e;
          d.logger.warn({ jobId: r.jobId, dataset: job.spec.outputDataset, code: e.code }, `outputs not registered: ${e.message}`);
        }
      }
      const wallSec = job.startedAt !== undefined ? Math.max(0, (r.at - job.startedAt) / 1000) : undefined;
      t = await move("finished", PILOT_STATES, { endedAt: r.at, wallSec });
      if (!t.stale) await dropClaim(d, r, "complete");
      break;
    }
    case "failed":
      return fail(d, r, job, fence);
    case "cancelled":
      t = await move("cancelled", PILOT_STATES, { endedAt: r.at, errorMessage: r.message ?? "cancelled while running" });
      if (!t.stale) await dropClaim(d, r, "release");
      break;
    default:
      // The report's schema admits only the states a pilot reports (REPORTED_STATES): a report naming
      // the services' states (defined, activated, sent, closed...) was dead-lettered where it entered.
      d.logger.warn({ jobId: r.jobId, state: r.state, pilotId: r.pilotId }, "a pilot reported a state only the services set; ignored");
      return "ignored";
  }
  if (t.stale) d.logger.info({ jobId: r.jobId, attempt: r.attempt, jobAttempt: job.attempt, state: r.state, pilotId: r.pilotId }, "stale report refused (E1904)");
  return outcomeOf(t);
}

async function fail(d: JobStateDeps, r: StateReport, job: JobRecord, fence: Fence): Promise<StateOutcome> {
  const code = r.errorCode ?? ERR.INTERNAL;
  const message = r.message ?? "the pilot gave no message";
  // The fence before any decision: a stale failure must neither fail nor retry the current attempt.
  const held = await d.jobs.checkFence(r.jobId, fence);
  if (held.verdict !== "current") {
    d.logger.info({ jobId: r.jobId, attempt: r.attempt, jobAttempt: job.attempt, pilotId: r.pilotId }, "stale failure report refused (E1904)");
    return "stale";
  }
  if (!(PILOT_STATES as readonly JobState[]).includes(job.state)) {
    // Already final (cancelled by its owner, or this report's first delivery did it): the claim may
    // still be held, drop it; the record stays as it is.
    if (isFinal(job.state)) await dropClaim(d, r, "release");
    return "ignored";
  }
  const decision = decideFailure({ code, message, attempt: job.attempt, maxAttempts: job.spec.maxAttempts, memoryMb: job.spec.memoryMb, preemptions: job.preemptions });
  if (decision.action === "fail") {
    // Out of attempts, the job's code says so (E1903) and its cause is kept beside it, where
    // `wms job list --code` finds a job that failed its last (or only) attempt with that cause.
    const cause = decision.code !== code ? { causeCode: code } : {};
    const t = await d.jobs.transition(r.jobId, "failed", PILOT_STATES, { errorCode: decision.code, errorMessage: decision.message.slice(0, 4096), ...cause, endedAt: r.at }, Date.now(), job.taskId, undefined, fence);
    await dropClaim(d, r, "release");
    if (t.moved) d.logger.info({ jobId: r.jobId, code: decision.code, attempt: job.attempt }, "job failed");
    return t.moved ? "failed" : outcomeOf(t);
  }
  // An increase_memory rule raises the request before brokerage, so the next attempt is matched
  // (autocluster, machine ad Memory) as the larger job it now is.
  const rebrokered = await d.rebroker({ ...job.spec, attempt: job.attempt, memoryMb: decision.memoryMb ?? job.spec.memoryMb }, job.attempt);
  // A preempted attempt is given back: the budget grows by the attempt the batch system took.
  const next = decision.preempted ? { ...rebrokered, maxAttempts: Math.max(rebrokered.maxAttempts, job.spec.maxAttempts + 1) } : rebrokered;
  // Record first, then release, then queue: the matchmaker can only claim the job once its record
  // says activated, and the old lease must be gone before the same job id is added again.
  // A crash after the record moved is repaired on redelivery (see applyStateReport). The new
  // attempt has no lease token until a claim gives it one, so the old pilot's updates are stale.
  const t = await d.jobs.transition(
    r.jobId,
    "activated",
    PILOT_STATES,
    {
      site: next.site,
      attempt: next.attempt,
      spec: next,
      pilotId: "",
      leaseToken: "",
      errorCode: code,
      ...(decision.preempted && { preemptions: (job.preemptions ?? 0) + 1 }),
      errorMessage: `attempt ${job.attempt} failed with ${describeCode(code)}: ${message}`.slice(0, 4096),
    },
    Date.now(),
    job.taskId,
    undefined,
    fence,
  );
  if (!t.moved) return outcomeOf(t);
  await dropClaim(d, r, "release");
  await d.dispatch.enqueue([next]);
  d.logger.info({ jobId: r.jobId, code, attempt: next.attempt, site: next.site, from: job.site, memoryMb: next.memoryMb }, "job requeued for another attempt");
  return "retried";
}

async function dropClaim(d: JobStateDeps, r: StateReport, how: "complete" | "release"): Promise<void> {
  const ok = how === "complete" ? await d.dispatch.complete(r.jobId, r.lockToken) : await d.dispatch.release(r.jobId, r.lockToken);
  if (!ok) d.logger.debug({ jobId: r.jobId, how }, "claim already gone");
}

/** Error reports: log them and keep them where the monitor can show them. */
export async function recordErrorReport(log: CappedReportList<ErrorReport>, logger: Logger, r: ErrorReport, once: { seenKeyIn(shardTag: string): string; ttlSec: number }): Promise<boolean> {
  const added = await log.push(r, { seenKey: once.seenKeyIn(log.shardOf(r)), ttlSec: once.ttlSec });
  if (added) logger.warn({ code: r.code, name: r.name, jobId: r.jobId, pilotId: r.pilotId, site: r.site }, `pilot error: ${r.message}`);
  return added;
}
