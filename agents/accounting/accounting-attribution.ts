// Whose usage an accounting record may add to. Its signature says only that the pilot holding the
// attempt sent it; the user, group, VO and site it names are that pilot's word, so a pilot holding
// any one job could charge another user's quota (and sink their fair share) or another site.
// They must be the job's own, and the wall time no more than the job's walltime allows (the pilot
// kills a payload at its walltime), so a holder can charge at most what its job could have used.
import type { AdmittedAttempt } from "../reports/index.ts";
import { ERR, WmsError, type AccountingRecord } from "../../schemas/index.ts";

/**
 * Wall time an honest record may show past the job's walltime: the kill's grace and the pilot's
 * polling of the payload (seconds), with room to spare. Past it the record is not a payload's.
 */
export const WALLTIME_SLACK_SEC = 600;

/**
 * Throws SEC_REPORT_MISATTRIBUTED unless the record names its job's owner, VO, group and the site
 * the attempt ran at, and no more wall time than the job's walltime (plus WALLTIME_SLACK_SEC).
 * `attempt` is what the record's fence admitted (authenticateAttemptReport with `withSpec`): the
 * job is read once, in the fence's own step, not again here.
 */
export function requireJobAttribution(attempt: AdmittedAttempt, r: AccountingRecord): void {
  const { spec, site } = attempt;
  if (spec === undefined) throw new WmsError(ERR.REPORT_UNKNOWN_JOB, `accounting record ${r.reportId} names job ${r.jobId}, whose spec was not read with its fence`);
  const wrong = [
    r.userDn !== spec.userDn && `user ${r.userDn} (the job's owner is ${spec.userDn})`,
    r.vo !== spec.vo && `VO ${r.vo} (the job's is ${spec.vo})`,
    r.group !== spec.group && `group '${r.group}' (the job's is '${spec.group}')`,
    r.site !== site && `site ${r.site} (attempt ${r.attempt} ran at ${site || "no known site"})`,
    r.wallSec > spec.walltimeSec + WALLTIME_SLACK_SEC && `${r.wallSec} s of wall time (the job's walltime is ${spec.walltimeSec} s)`,
  ].filter((w): w is string => w !== false);
  if (wrong.length > 0) {
    throw new WmsError(ERR.SEC_REPORT_MISATTRIBUTED, `accounting record ${r.reportId} of job ${r.jobId} attempt ${r.attempt} names ${wrong.join(", ")}; nothing added`);
  }
}
