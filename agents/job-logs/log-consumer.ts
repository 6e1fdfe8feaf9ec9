// The log agent: LogReports from RabbitMQ into the job log store. Storing is an overwrite by job
// and attempt, so a redelivered report changes nothing.
import type { RedisClient } from "../../platform/redis-client.ts";
import type { Logger } from "pino";
import type { WireNames, WmsConfig } from "../../schemas/index.ts";
import { authenticateAttemptReport, ReportConsumer, type AttemptFence } from "../reports/index.ts";
import { JobLogStore } from "./job-log-store.ts";

export function logConsumer(o: { url: string; rabbit?: Omit<WmsConfig["rabbitmq"], "url">; names: WireNames; redis: RedisClient; logger: Logger; prefetch?: number; jobs?: AttemptFence }): ReportConsumer {
  const store = new JobLogStore(o.redis, o.names);
  return new ReportConsumer({
    ...o,
    queue: "logs",
    consumer: "job-logs",
    handle: async (report) => {
      if (report.kind !== "log") return;
      // With the job store: only the attempt's own pilot, signed, may store its log.
      if (o.jobs) await authenticateAttemptReport(o.jobs, report);
      await store.put(report);
      o.logger.debug({ jobId: report.jobId, attempt: report.attempt }, "job log stored");
    },
  });
}
