// The accounting agent: accounting records from the reports exchange into the UsageStore, each
// record exactly once (its seen key is set in the same script as the increments).
import type { JobStore } from "../../jobs/index.ts";
import { authenticateAttemptReport, ReportConsumer, type ReportConsumerBase } from "../reports/index.ts";
import type { UsageStore } from "./usage-store.ts";

export interface AccountingAgentOptions extends ReportConsumerBase {
  usage: UsageStore;
  /**
   * The job store, to fence each record: only the current attempt's pilot, under its lease token,
   * accounts for a job, signed by that attempt's report key; a stale record is refused
   * (dead-lettered with JOB_STALE_UPDATE), an unsigned or forged one too (SEC_REPORT_FORGED).
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
      // Only the attempt's own pilot accounts for it (current, or ended and reported by it), signed.
      if (o.jobs) await authenticateAttemptReport(o.jobs, report);
      const applied = await o.usage.add(report, { seenKey: ctx.seenKeyIn(o.usage.shardOf(report)), ttlSec: ctx.seenTtlSec });
      o.logger.debug({ reportId: report.reportId, jobId: report.jobId, applied }, "accounting record");
      return applied ? undefined : "duplicate";
    },
  });
}
