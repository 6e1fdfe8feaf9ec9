// Reports refused for what they claim (forged or unsigned: SEC_REPORT_FORGED; an earlier attempt or
// a lease token that no longer holds the job: JOB_STALE_UPDATE; accounting for another user, group,
// VO or site than the job's: SEC_REPORT_MISATTRIBUTED; an attempt accounted for twice:
// REPORT_ATTEMPT_ACCOUNTED): counted in Redis per kind and code,
// where the monitor reads them (`wms_reports_refused_total`), and written to the security audit
// stream, besides being dead-lettered with their code by the consumer.
import type { RedisClient } from "../../platform/redis-client.ts";
import { ERR, type Report, type WireNames } from "../../schemas/index.ts";
import { AuditLog, refusalAuditBudget } from "../../security/index.ts";

export const REFUSAL_CODES: ReadonlySet<number> = new Set([ERR.SEC_REPORT_FORGED, ERR.JOB_STALE_UPDATE, ERR.SEC_REPORT_MISATTRIBUTED, ERR.REPORT_ATTEMPT_ACCOUNTED]);

export interface RefusalCount {
  readonly kind: string;
  readonly code: number;
  readonly count: number;
}

export function refusedReportsKey(names: WireNames): string {
  return names.redisKey("reports", "refused");
}

export class ReportRefusals {
  private readonly audit: AuditLog;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
  ) {
    this.audit = new AuditLog(redis, names);
  }

  // Anyone who may publish to the reports exchange makes a refusal with one unsigned message: every
  // one is counted, but at most REFUSAL_AUDITS_PER_MINUTE a minute reach the capped audit stream
  // (the next saying how many were left out), or a flood would push every older event out of it.
  private readonly audits = refusalAuditBudget();

  async record(r: Report, code: number, consumer: string, reason: string): Promise<void> {
    const counted = this.redis.hincrby(refusedReportsKey(this.names), `${r.kind}:${code}`, 1);
    const budget = this.audits.take();
    if (!budget.write) {
      await counted;
      return;
    }
    const fields: Record<string, string> = { code: String(code), kind: r.kind, reportId: r.reportId, consumer, reason: reason.slice(0, 500) };
    if (r.jobId !== undefined) fields.jobId = r.jobId;
    if (r.pilotId !== undefined) fields.pilotId = r.pilotId;
    if ("attempt" in r && r.attempt !== undefined) fields.attempt = String(r.attempt);
    if (budget.omitted > 0) fields.omittedBefore = String(budget.omitted);
    await Promise.all([counted, this.audit.write("report-refused", fields)]);
  }

  async counts(): Promise<RefusalCount[]> {
    const h = await this.redis.hgetall(refusedReportsKey(this.names));
    return Object.entries(h).map(([k, v]) => {
      const [kind, code] = k.split(":");
      return { kind, code: Number(code), count: Number(v) };
    });
  }
}
