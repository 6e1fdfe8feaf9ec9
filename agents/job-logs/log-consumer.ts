// The log agent: LogReports from RabbitMQ into the job log store. Storing is an overwrite by job
// and attempt, so a redelivered report changes nothing.
import { authenticateAttemptReport, ReportConsumer, type AttemptFence, type ReportConsumerBase } from "../reports/index.ts";
import { JobLogStore } from "./job-log-store.ts";

export function logConsumer(o: ReportConsumerBase & { jobs?: AttemptFence }): ReportConsumer {
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
