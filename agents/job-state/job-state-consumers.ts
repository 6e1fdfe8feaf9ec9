// The job-state agent's two RabbitMQ consumers: state reports (which move jobs) and error reports
// (the error log). Seen keys are per consumer name, so the two never shadow each other.
import type { RedisClient } from "../../platform/redis-client.ts";
import { ERR, WmsError, type ErrorReport, type WireNames } from "../../schemas/index.ts";
import { CappedReportList, ReportConsumer, type ReportConsumerBase } from "../reports/index.ts";
import { applyStateReport, recordErrorReport, type JobStateDeps } from "./job-state-agent.ts";

export const ERROR_LOG_CAP = 10_000;

export function errorLog(redis: RedisClient, names: WireNames): CappedReportList<ErrorReport> {
  return new CappedReportList<ErrorReport>(redis, names, "error-log", ERROR_LOG_CAP);
}


export function stateConsumer(o: ReportConsumerBase & { deps: JobStateDeps }): ReportConsumer {
  return new ReportConsumer({
    ...o,
    queue: "jobState",
    consumer: "job-state",
    handle: async (report, ctx) => {
      if (report.kind !== "state") return;
      const outcome = await applyStateReport(o.deps, report, ctx);
      // Refused, not dropped: dead-lettered with its code, counted and audited (report-refusals.ts).
      if (outcome === "stale") throw new WmsError(ERR.JOB_STALE_UPDATE, `state report ${report.reportId} of job ${report.jobId} names attempt ${report.attempt} or a lease token that no longer holds the job`);
      o.logger.debug({ reportId: report.reportId, jobId: report.jobId, state: report.state, outcome }, "state report");
    },
  });
}

export function errorConsumer(o: ReportConsumerBase): ReportConsumer {
  const log = errorLog(o.redis, o.names);
  return new ReportConsumer({
    ...o,
    queue: "errors",
    consumer: "error-log",
    handlerMarksSeen: true,
    handle: async (report, ctx) => {
      if (report.kind !== "error") return;
      return (await recordErrorReport(log, o.logger, report, { seenKeyIn: ctx.seenKeyIn, ttlSec: ctx.seenTtlSec })) ? undefined : "duplicate";
    },
  });
}
