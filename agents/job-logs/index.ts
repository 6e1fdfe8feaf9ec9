// Public surface of agents/job-logs/: the job log store and the agent that fills it.
export { JobLogStore, JOB_LOG_RETAIN_SEC, type JobLogAttempt } from "./job-log-store.ts";
export { logConsumer } from "./log-consumer.ts";
export { formatJobLog, formatPilotLog } from "./log-text.ts";
