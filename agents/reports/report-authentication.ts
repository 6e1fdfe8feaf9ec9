// Which reports the agents believe: an attempt's state, accounting, audit and log reports only when
// signed by the report key the matchmaker bound to that attempt (security/report-signing.ts), and a
// service's audit records only when sealed by that service's delegated key. The fence (attempt and
// lease token) is each agent's own; this file says only whether the signature holds.
import { ERR, WmsError, type AuditRecord, type JobSpec } from "../../schemas/index.ts";
import { verifyReportSignature, type SignableReport } from "../../security/index.ts";

/** What a service seals when it writes an audit record itself (the credential cache). */
export { AUDIT_RECORD_SEAL_PURPOSE } from "../../security/index.ts";

const describe = (r: SignableReport): string => `${r.kind} report ${r.reportId}${r.jobId !== undefined ? ` of job ${r.jobId}` : ""}${r.attempt !== undefined ? ` attempt ${r.attempt}` : ""}`;

/** The report key bound to an attempt as the agents' job store read it (jobs/job-store.ts checks the matchmaker's seal). */
export interface BoundReportKey {
  readonly reportKey?: string;
  /** The record held a report key without the matchmaker's seal over it. */
  readonly reportKeyUnsealed?: boolean;
}

/** Throws SEC_REPORT_FORGED unless the report is signed by `reportKey`, the key bound to the attempt it names. */
export function requireAttemptSignature(report: SignableReport, bound: BoundReportKey): void {
  const { reportKey } = bound;
  if (report.signature === undefined) throw new WmsError(ERR.SEC_REPORT_FORGED, `${describe(report)} is unsigned: only the pilot that holds the attempt may report for it`);
  if (bound.reportKeyUnsealed) throw new WmsError(ERR.SEC_REPORT_FORGED, `${describe(report)}: the report key on the job's record is not the one the matchmaker sealed to the attempt (rewritten in Redis)`);
  if (reportKey === undefined) throw new WmsError(ERR.SEC_REPORT_FORGED, `${describe(report)}: the attempt has no report key bound (claimed by a pilot that advertised none)`);
  if (!verifyReportSignature(report, reportKey)) throw new WmsError(ERR.SEC_REPORT_FORGED, `${describe(report)} is not signed by the pilot that holds the attempt`);
}

/** The attempt a report was admitted for: the site it ran at and, when asked for, its job's spec. */
export interface AdmittedAttempt {
  readonly site?: string;
  readonly spec?: JobSpec;
}

/** The part of jobs/ JobStore that fences a pilot's update (and returns the admitted attempt's report key, site and spec). */
export interface AttemptFence {
  checkFence(
    jobId: string,
    fence: { attempt: number; leaseToken: string; pilotId?: string },
    o?: { endedReportedOk?: boolean; withSpec?: boolean },
  ): Promise<{ verdict: "current" | "ended" | "stale" | "unknown"; reportKey?: string; reportKeyUnsealed?: boolean } & AdmittedAttempt>;
}

/**
 * A report about one attempt that may arrive after the attempt ended (accounting, audit, log): its
 * job must exist (else REPORT_UNKNOWN_JOB), its attempt and lease token must be the current ones or
 * those of an ended attempt its own pilot reported (else JOB_STALE_UPDATE), and it must be signed by
 * that attempt's report key (else SEC_REPORT_FORGED). Returns the attempt as the fence read it, with
 * the job's spec when `withSpec` (read in the same step: an accounting record's attribution needs it).
 */
export async function authenticateAttemptReport(jobs: AttemptFence, r: SignableReport, o: { withSpec?: boolean } = {}): Promise<AdmittedAttempt> {
  if (r.jobId === undefined || r.attempt === undefined || r.lockToken === undefined) {
    throw new WmsError(ERR.SEC_REPORT_FORGED, `${describe(r)} names no job, attempt and lease token it is signed for`);
  }
  const held = await jobs.checkFence(r.jobId, { attempt: r.attempt, leaseToken: r.lockToken, pilotId: r.pilotId ?? "" }, { endedReportedOk: true, withSpec: o.withSpec === true });
  if (held.verdict === "unknown") throw new WmsError(ERR.REPORT_UNKNOWN_JOB, `${describe(r)} names a job that does not exist`);
  if (held.verdict === "stale") throw new WmsError(ERR.JOB_STALE_UPDATE, `${describe(r)} names an earlier attempt or a lease token that no longer holds the job`);
  requireAttemptSignature(r, held);
  return { site: held.site, spec: held.spec };
}

/** The text a service seals over an audit record: the record without its seal or signature. */
export function auditSealText(r: AuditRecord): string {
  const { serviceSeal: _seal, signature: _sig, ...rest } = r;
  return JSON.stringify(rest);
}
