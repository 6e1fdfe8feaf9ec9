// Public surface of matchmaker/: the intake side (replica catalog, brokerage, intake service) and the
// matchmaker side (dispatch queues, autoclusters, match cache, matchmaker service).
export { JobStore, JOB_STATES, FINAL_STATES, type JobState, type JobRecord, type TaskRecord, type TaskStatus, type NewJob, type JobPatch } from "./job-store.ts";
export { DispatchQueues, makeLockToken, parseLockToken, type DispatchQueuesOptions, type ClaimedJob, type StallOutcome } from "./dispatch-queues.ts";
export { autoclusterKey, autoclusterId, bullPriority, jobAdText, type AutoclusterKey } from "./autocluster.ts";
