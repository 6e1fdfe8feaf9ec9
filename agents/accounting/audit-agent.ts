// The audit consumer: every identity switch, credential retrieval or refusal the pilots and services
// report (who, which local account, which pilot, which job, when) goes to the log and
// to a capped Redis list (`wms site authz check --audit` reads it). The log is the full trail; the list is the recent window.
import type { RedisClient } from "../../platform/redis-client.ts";
import { ERR, WmsError, type AuditRecord, type WireNames } from "../../schemas/index.ts";
import type { SealVerifier } from "../../security/index.ts";
import { auditSealText, authenticateAttemptReport, CappedReportList, ReportConsumer, type AttemptFence, type ReportConsumerBase } from "../reports/index.ts";

export const AUDIT_LIST_CAP = 10_000;

export function auditLog(redis: RedisClient, names: WireNames): CappedReportList<AuditRecord> {
  return new CappedReportList<AuditRecord>(redis, names, "audit", AUDIT_LIST_CAP);
}

export interface AuditConsumerOptions extends ReportConsumerBase {
  /**
   * With it, a record is stored only if it is signed by the report key of the attempt it names
   * (a pilot's) or sealed by a service allowed to audit (`serviceSeals`); anything else is refused
   * with SEC_REPORT_FORGED (or JOB_STALE_UPDATE), so a forged record never reaches the trail.
   */
  jobs?: AttemptFence;
  serviceSeals?: SealVerifier;
}

export function auditConsumer(o: AuditConsumerOptions): ReportConsumer {
  const list = auditLog(o.redis, o.names);
  return new ReportConsumer({
    ...o,
    queue: "audit",
    consumer: "audit",
    handlerMarksSeen: true,
    handle: async (report, ctx) => {
      if (report.kind !== "audit") return;
      if (o.jobs) {
        if (report.serviceSeal !== undefined) {
          if (!o.serviceSeals?.verify(auditSealText(report), report.serviceSeal)) {
            throw new WmsError(ERR.SEC_REPORT_FORGED, `audit record ${report.reportId} carries no valid seal of a service allowed to audit`);
          }
        } else await authenticateAttemptReport(o.jobs, report);
      }
      if (!(await list.push(report, { seenKey: ctx.seenKeyIn(list.shardOf(report)), ttlSec: ctx.seenTtlSec }))) return "duplicate";
      const { kind: _k, schemaVersion: _v, ...fields } = report;
      o.logger.info({ audit: fields }, `audit ${report.event}`);
    },
  });
}
