// The accounting agent: accounting records from the reports exchange into the UsageStore, each
// record exactly once (its seen key is set in the same script as the increments).
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { WireNames, WmsConfig } from "../../schemas/index.ts";
import { ReportConsumer } from "../reports/index.ts";
import type { UsageStore } from "./usage-store.ts";

export interface AccountingAgentOptions {
  url: string;
  rabbit?: Omit<WmsConfig["rabbitmq"], "url">;
  names: WireNames;
  redis: Redis;
  logger: Logger;
  usage: UsageStore;
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
      const applied = await o.usage.add(report, { seenKey: ctx.seenKey, ttlSec: ctx.seenTtlSec });
      o.logger.debug({ reportId: report.reportId, jobId: report.jobId, applied }, "accounting record");
      return applied ? undefined : "duplicate";
    },
  });
}
