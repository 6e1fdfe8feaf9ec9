// The audit consumer: every identity switch, credential retrieval or refusal the pilots and services
// report (who, which local account, which pilot, which job, when) goes to the log and
// to a capped Redis list the monitor shows. The log is the full trail; the list is the recent window.
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { AuditRecord, WireNames, WmsConfig } from "../../schemas/index.ts";
import { CappedReportList, ReportConsumer } from "../reports/index.ts";

export const AUDIT_LIST_CAP = 10_000;

export function auditLog(redis: Redis, names: WireNames): CappedReportList<AuditRecord> {
  return new CappedReportList<AuditRecord>(redis, names, "audit", AUDIT_LIST_CAP);
}

export function auditConsumer(o: { url: string; rabbit?: Omit<WmsConfig["rabbitmq"], "url">; names: WireNames; redis: Redis; logger: Logger; prefetch?: number }): ReportConsumer {
  const list = auditLog(o.redis, o.names);
  return new ReportConsumer({
    url: o.url,
    rabbit: o.rabbit,
    names: o.names,
    redis: o.redis,
    logger: o.logger,
    queue: "audit",
    consumer: "audit",
    handlerMarksSeen: true,
    prefetch: o.prefetch,
    handle: async (report, ctx) => {
      if (report.kind !== "audit") return;
      if (!(await list.push(report, { seenKey: ctx.seenKeyIn(list.shardOf(report)), ttlSec: ctx.seenTtlSec }))) return "duplicate";
      const { kind: _k, schemaVersion: _v, ...fields } = report;
      o.logger.info({ audit: fields }, `audit ${report.event}`);
    },
  });
}
