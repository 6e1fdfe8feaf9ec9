// The accounting agent: accounting records from the reports exchange into the UsageStore, each
// record exactly once (its seen key is set in the same script as the increments).
import type { RedisClient } from "../../platform/redis-client.ts";
import type { Logger } from "pino";
import type { WireNames, WmsConfig } from "../../schemas/index.ts";
import type { JobStore } from "../../jobs/index.ts";
import { authenticateAttemptReport, ReportConsumer } from "../reports/index.ts";
import type { UsageStore } from "./usage-store.ts";

export interface AccountingAgentOptions {
  url: string;
  rabbit?: Omit<WmsConfig["rabbitmq"], "url">;
  names: WireNames;
  redis: RedisClient;
  logger: Logger;
  usage: UsageStore;
  /**
   * The job store, to fence each record: only the current attempt's pilot, under its lease token,
   * accounts for a job, signed by that attempt's report key; a stale record is refused
   * (dead-lettered with JOB_STALE_UPDATE), an unsigned or forged one too (SEC_REPORT_FORGED).
   */
  jobs?: JobStore;
  prefetch?: number;
}

export function accountingConsumer(o: AccountingAgentOptions): ReportConsumer {
  return new ReportConsumer({
    url: o.url,
    rabbit: o.rabbit,
    names: o.names,
    redis: o.redis,
    logger: o.logger,
    queue: "accounting",
    consumer: "accounting",
    handlerMarksSeen: true,
    prefetch: o.prefetch,
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
