import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Dn, ErrorCodeField, Id, ReportedStateName, ReportId, SiteName, Timestamp } from "./common.ts";

// The report kinds the pilot sends over RabbitMQ, where nothing may be lost.

/** base64 of a 64-byte Ed25519 signature. */
const ReportSignature = Type.String({ minLength: 86, maxLength: 88, pattern: "^[A-Za-z0-9+/]+={0,2}$" });

export const StateReportSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    kind: Type.Literal("state"),
    reportId: ReportId,
    jobId: Id,
    taskId: Id,
    pilotId: Id,
    site: SiteName,
    /** Only where the pilot's own work takes the job; the services' states are refused as bad schema. */
    state: ReportedStateName,
    attempt: Type.Integer({ minimum: 1 }),
    /** The lease token of the claim this attempt runs under; with `attempt`, the update's fence. */
    lockToken: Type.String({ minLength: 8, maxLength: 128 }),
    errorCode: Type.Optional(ErrorCodeField),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    outputs: Type.Optional(
      Type.Array(
        Type.Object(
          { lfn: Type.String({ maxLength: 512 }), size: Type.Integer({ minimum: 0 }), adler32: Type.String({ pattern: "^[0-9a-f]{8}$" }), md5: Type.String({ pattern: "^[0-9a-f]{32}$" }) },
          { additionalProperties: false },
        ),
        { maxItems: 10000 },
      ),
    ),
    at: Timestamp,
    /** Ed25519 signature by the attempt's report key (security/report-signing.ts); agents refuse a report without a valid one. */
    signature: Type.Optional(ReportSignature),
  },
  { additionalProperties: false, $id: "StateReport" },
);
export type StateReport = Static<typeof StateReportSchema>;
export const StateReport = defineMessage("StateReport", StateReportSchema);

export const ErrorReportSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    kind: Type.Literal("error"),
    reportId: ReportId,
    jobId: Type.Optional(Id),
    taskId: Type.Optional(Id),
    pilotId: Id,
    site: SiteName,
    code: ErrorCodeField,
    name: Type.String({ maxLength: 64 }),
    message: Type.String({ maxLength: 4096 }),
    at: Timestamp,
  },
  { additionalProperties: false, $id: "ErrorReport" },
);
export type ErrorReport = Static<typeof ErrorReportSchema>;
export const ErrorReport = defineMessage("ErrorReport", ErrorReportSchema);

export const AccountingRecordSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    kind: Type.Literal("accounting"),
    reportId: ReportId,
    jobId: Id,
    taskId: Id,
    pilotId: Id,
    attempt: Type.Integer({ minimum: 1 }),
    lockToken: Type.String({ minLength: 8, maxLength: 128 }),
    userDn: Dn,
    vo: Type.String({ maxLength: 64 }),
    group: Type.String({ maxLength: 64 }),
    site: SiteName,
    wallSec: Type.Number({ minimum: 0 }),
    userCpuSec: Type.Number({ minimum: 0 }),
    sysCpuSec: Type.Number({ minimum: 0 }),
    maxRssKb: Type.Integer({ minimum: 0 }),
    exitCode: Type.Integer(),
    startedAt: Timestamp,
    endedAt: Timestamp,
    /** The batch system preempted the attempt (PILOT_PREEMPTED): its wall time is wasted, not the user's use. */
    preempted: Type.Optional(Type.Boolean()),
    /** Ed25519 signature by the attempt's report key (security/report-signing.ts); agents refuse a report without a valid one. */
    signature: Type.Optional(ReportSignature),
  },
  { additionalProperties: false, $id: "AccountingRecord" },
);
export type AccountingRecord = Static<typeof AccountingRecordSchema>;
export const AccountingRecord = defineMessage("AccountingRecord", AccountingRecordSchema);

export const AuditRecordSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    kind: Type.Literal("audit"),
    reportId: ReportId,
    event: Type.Union(
      ["identity-switch", "credential-retrieval", "credential-refused", "key-reuse", "authz-decision", "mapping-decision", "token-refused"].map((s) => Type.Literal(s)),
    ),
    dn: Dn,
    localAccount: Type.Optional(Type.String({ maxLength: 64 })),
    pilotId: Type.Optional(Id),
    jobId: Type.Optional(Id),
    site: Type.Optional(SiteName),
    node: Type.Optional(Type.String({ maxLength: 255 })),
    startedAt: Type.Optional(Timestamp),
    endedAt: Type.Optional(Timestamp),
    detail: Type.Optional(Type.String({ maxLength: 4096 })),
    /** A record about a job's attempt names it with its lease token and is signed by that attempt's report key. */
    attempt: Type.Optional(Type.Integer({ minimum: 1 })),
    lockToken: Type.Optional(Type.String({ minLength: 8, maxLength: 128 })),
    at: Timestamp,
    /** Ed25519 signature by the attempt's report key (security/report-signing.ts); agents refuse a report without a valid one. */
    signature: Type.Optional(ReportSignature),
    /** A record a service wrote (not about a pilot's attempt): sealed by that service's delegated key (security/service-seal.ts). */
    serviceSeal: Type.Optional(Type.String({ minLength: 16, maxLength: 1024 })),
  },
  { additionalProperties: false, $id: "AuditRecord" },
);
export type AuditRecord = Static<typeof AuditRecordSchema>;
export const AuditRecord = defineMessage("AuditRecord", AuditRecordSchema);

/** Bytes of each log tail a pilot keeps per job attempt: the end of a log is where the failure is. */
export const LOG_TAIL_BYTES = 64 * 1024;

/**
 * Pilot → log store, once per job attempt whatever its end: the last LOG_TAIL_BYTES of the
 * payload's stdout and stderr and of the pilot's own log for that attempt (JSON lines), so an
 * operator can read why a job failed after its job dir is gone.
 */
export const LogReportSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    kind: Type.Literal("log"),
    reportId: ReportId,
    jobId: Id,
    taskId: Id,
    attempt: Type.Integer({ minimum: 1 }),
    pilotId: Id,
    site: SiteName,
    errorCode: Type.Optional(ErrorCodeField),
    stdout: Type.String({ maxLength: LOG_TAIL_BYTES }),
    stderr: Type.String({ maxLength: LOG_TAIL_BYTES }),
    pilotLog: Type.String({ maxLength: LOG_TAIL_BYTES }),
    /** Which of the three lost their beginning to the bound. */
    truncated: Type.Object({ stdout: Type.Boolean(), stderr: Type.Boolean(), pilotLog: Type.Boolean() }, { additionalProperties: false }),
    /** The lease token of the attempt's claim: with `attempt`, the report's fence. */
    lockToken: Type.Optional(Type.String({ minLength: 8, maxLength: 128 })),
    at: Timestamp,
    /** Ed25519 signature by the attempt's report key (security/report-signing.ts); agents refuse a report without a valid one. */
    signature: Type.Optional(ReportSignature),
  },
  { additionalProperties: false, $id: "LogReport" },
);
export type LogReport = Static<typeof LogReportSchema>;
export const LogReport = defineMessage("LogReport", LogReportSchema);

export type Report = StateReport | ErrorReport | AccountingRecord | AuditRecord | LogReport;
export type ReportKind = Report["kind"];
