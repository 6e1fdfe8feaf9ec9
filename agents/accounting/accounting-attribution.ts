// Whose usage an accounting record may add to. Its signature says only that the pilot holding the
// attempt sent it; the user, group, VO and site it names are that pilot's word, so a pilot holding
// any one job could charge another user's quota (and sink their fair share) or another site.
// They must be the job's own, and the wall time no more than the job's walltime allows (the pilot
// kills a payload at its walltime), so a holder can charge at most what its job could have used.
import type { JobStore } from "../../jobs/index.ts";
import { ERR, WmsError, type AccountingRecord } from "../../schemas/index.ts";

/**
 * Wall time an honest record may show past the job's walltime: the kill's grace and the pilot's
 * polling of the payload (seconds), with room to spare. Past it the record is not a payload's.
 */
export const WALLTIME_SLACK_SEC = 600;

/** The part of jobs/ JobStore the check reads: the job's spec and current attempt, and its past attempts' sites. */
export type AttributionSource = Pick<JobStore, "getJob" | "attempts">;

/**
 * Throws SEC_REPORT_MISATTRIBUTED unless the record names its job's owner, VO, group and the site
 * the attempt ran at, and no more wall time than the job's walltime (plus WALLTIME_SLACK_SEC).
 * Called after the record's fence and signature held (authenticateAttemptReport).
 */
export async function requireJobAttribution(jobs: AttributionSource, r: AccountingRecord): Promise<void> {
  const job = await jobs.getJob(r.jobId);
  if (job === undefined) throw new WmsError(ERR.REPORT_UNKNOWN_JOB, `accounting record ${r.reportId} names job ${r.jobId}, which does not exist`);
  const spec = job.spec;
  // The site of the attempt the record is for: the current one's, or an ended one's from its history.
  const site = job.attempt === r.attempt ? job.site : (await jobs.attempts(r.jobId)).find((a) => a.attempt === r.attempt)?.site;
  const wrong = [
    r.userDn !== spec.userDn && `user ${r.userDn} (the job's owner is ${spec.userDn})`,
    r.vo !== spec.vo && `VO ${r.vo} (the job's is ${spec.vo})`,
    r.group !== spec.group && `group '${r.group}' (the job's is '${spec.group}')`,
    r.site !== site && `site ${r.site} (attempt ${r.attempt} ran at ${site ?? "no known site"})`,
    r.wallSec > spec.walltimeSec + WALLTIME_SLACK_SEC && `${r.wallSec} s of wall time (the job's walltime is ${spec.walltimeSec} s)`,
  ].filter((w): w is string => w !== false);
  if (wrong.length > 0) {
    throw new WmsError(ERR.SEC_REPORT_MISATTRIBUTED, `accounting record ${r.reportId} of job ${r.jobId} attempt ${r.attempt} names ${wrong.join(", ")}; nothing added`);
  }
}
