// Builds the reports a pilot sends for a job. Pure: ids and timestamps come in or from node:crypto.
import { randomUUID } from "node:crypto";
import { ERR, errorEntry, SCHEMA_VERSION, type AccountingRecord, type AuditRecord, type ErrorReport, type JobSpec, type StateReport } from "../../schemas/index.ts";
import type { PayloadOutcome } from "./payload-supervisor.ts";
import type { StagedOutput } from "./stage-out.ts";

export interface JobContext {
  readonly job: JobSpec;
  readonly pilotId: string;
  readonly lockToken: string;
  readonly submitterDn: string;
  /** The clock state reports are stamped on (the matchmaker's as the pilot sees it); default Date.now. */
  readonly now?: () => number;
}

const reportId = (kind: string): string => `${kind}-${randomUUID()}`;

export function stateReport(c: JobContext, state: "starting" | "running" | "finished" | "failed", extra: { errorCode?: number; message?: string; outputs?: StagedOutput[] } = {}): StateReport {
  return {
    schemaVersion: SCHEMA_VERSION,
    kind: "state",
    reportId: reportId("state"),
    jobId: c.job.jobId,
    taskId: c.job.taskId,
    pilotId: c.pilotId,
    site: c.job.site,
    state,
    attempt: c.job.attempt,
    lockToken: c.lockToken,
    ...(extra.errorCode !== undefined ? { errorCode: extra.errorCode } : {}),
    ...(extra.message !== undefined ? { message: extra.message.slice(0, 4096) } : {}),
    ...(extra.outputs !== undefined ? { outputs: extra.outputs } : {}),
    at: c.now?.() ?? Date.now(),
  };
}

export function errorReport(r: { pilotId: string; site: string; code: number; message: string; jobId?: string; taskId?: string }): ErrorReport {
  return {
    schemaVersion: SCHEMA_VERSION,
    kind: "error",
    reportId: reportId("error"),
    ...(r.jobId !== undefined ? { jobId: r.jobId } : {}),
    ...(r.taskId !== undefined ? { taskId: r.taskId } : {}),
    pilotId: r.pilotId,
    site: r.site,
    code: r.code,
    name: errorEntry(r.code)?.name ?? "UNKNOWN",
    message: r.message.slice(0, 4096),
    at: Date.now(),
  };
}

export function accountingRecord(c: JobContext, o: PayloadOutcome): AccountingRecord {
  return {
    schemaVersion: SCHEMA_VERSION,
    kind: "accounting",
    reportId: reportId("acct"),
    jobId: c.job.jobId,
    taskId: c.job.taskId,
    pilotId: c.pilotId,
    attempt: c.job.attempt,
    lockToken: c.lockToken,
    userDn: c.submitterDn,
    vo: c.job.vo,
    group: c.job.group,
    site: c.job.site,
    wallSec: Math.round(o.wallSec * 1000) / 1000,
    userCpuSec: o.userCpuSec,
    sysCpuSec: o.sysCpuSec,
    maxRssKb: Math.round(o.maxRssKb),
    exitCode: o.exitCode,
    startedAt: o.startedAt,
    endedAt: o.endedAt,
    ...(o.killedFor?.code === ERR.PILOT_PREEMPTED && { preempted: true }),
  };
}

export function auditRecord(r: Omit<AuditRecord, "schemaVersion" | "kind" | "reportId" | "at">): AuditRecord {
  return { schemaVersion: SCHEMA_VERSION, kind: "audit", reportId: reportId("audit"), ...r, at: Date.now() };
}
