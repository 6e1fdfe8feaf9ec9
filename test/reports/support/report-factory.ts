// Valid reports for tests, as the pilot would build them.
import { randomUUID } from "node:crypto";
import { SCHEMA_VERSION, type AccountingRecord, type AuditRecord, type StateReport } from "../../../schemas/index.ts";

export function accountingReport(over: Partial<AccountingRecord> = {}): AccountingRecord {
  return {
    schemaVersion: SCHEMA_VERSION,
    kind: "accounting",
    reportId: `acct-${randomUUID()}`,
    jobId: `job-${randomUUID().slice(0, 8)}`,
    taskId: "task-1",
    pilotId: "pilot-1",
    attempt: 1,
    lockToken: "lease-token-of-test",
    userDn: "/DC=org/CN=Jane Doe",
    vo: "atlas",
    group: "higgs",
    site: "SITE_A",
    wallSec: 10,
    userCpuSec: 6,
    sysCpuSec: 1,
    maxRssKb: 2048,
    exitCode: 0,
    startedAt: 1_700_000_000_000,
    endedAt: 1_700_000_010_000,
    ...over,
  };
}

export function auditReport(over: Partial<AuditRecord> = {}): AuditRecord {
  return { schemaVersion: SCHEMA_VERSION, kind: "audit", reportId: `audit-${randomUUID()}`, event: "identity-switch", dn: "/DC=org/CN=Jane Doe", localAccount: "pool001", pilotId: "pilot-1", jobId: "job-1", at: Date.now(), ...over };
}

export function stateReport(over: Partial<StateReport> & Pick<StateReport, "jobId" | "state">): StateReport {
  return { schemaVersion: SCHEMA_VERSION, kind: "state", reportId: `state-${randomUUID()}`, taskId: "task-1", pilotId: "pilot-1", site: "SITE_A", attempt: 1, lockToken: "lease-token-of-test", at: Date.now(), ...over };
}
