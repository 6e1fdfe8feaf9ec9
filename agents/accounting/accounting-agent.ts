// The accounting agent: accounting records from the reports exchange into the UsageStore, each
// attempt exactly once (its seen key, one per attempt, is set in the same script as the increments).
import type { JobStore } from "../../jobs/index.ts";
import { authenticateAttemptReport, ReportConsumer, type ReportConsumerBase } from "../reports/index.ts";
import { requireJobAttribution } from "./accounting-attribution.ts";
import { attemptAccountedKey, type UsageStore } from "./usage-store.ts";

export interface AccountingAgentOptions extends ReportConsumerBase {
  usage: UsageStore;
  /**
   * The job store, to fence each record: only the current attempt's pilot, under its lease token,
   * accounts for a job, signed by that attempt's report key; a stale record is refused
   * (dead-lettered with JOB_STALE_UPDATE), an unsigned or forged one too (SEC_REPORT_FORGED), and
   * one naming another user, group, VO or site than the job's (SEC_REPORT_MISATTRIBUTED).
   */
  jobs?: JobStore;
}

export function accountingConsumer(o: AccountingAgentOptions): ReportConsumer {
  return new ReportConsumer({
    ...o,
    queue: "accounting",
    consumer: "accounting",
    handlerMarksSeen: true,
    handle: async (report, ctx) => {
      if (report.kind !== "accounting") return; // the queue only carries accounting; decodeReport enforced it
      // Only the attempt's own pilot accounts for it (current, or ended and reported by it), signed,
      // for the job's own user, group, VO and site, and once: a second record of the attempt under
      // another id adds nothing (REPORT_ATTEMPT_ACCOUNTED), a redelivery of the first is a duplicate.
      if (o.jobs) {
        requireJobAttribution(await authenticateAttemptReport(o.jobs, report, { withSpec: true }), report);
      }
      const applied = await o.usage.add(report, { seenKey: attemptAccountedKey(o.names, report), ttlSec: ctx.seenTtlSec });
      o.logger.debug({ reportId: report.reportId, jobId: report.jobId, applied }, "accounting record");
      return applied ? undefined : "duplicate";
    },
  });
}
