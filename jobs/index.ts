// The port of jobs/: the one owner of a job's state. The intake, the matchmaker, the agents, the
// CLI, the monitor and the demo import only this file; nothing outside jobs/ reads or writes its keys.
export {
  JOB_STATES,
  FINAL_STATES,
  QUEUED_STATES,
  LEASED_STATES,
  REPORTING_STATES,
  PILOT_STATES,
  UNCONFIRMED_STATE,
  CONFIRMED_STATE,
  MAX_UNCONFIRMED_GIVE_BACKS,
  MOVES,
  REOPENABLE,
  TASK_STATUSES,
  STATE_GROUPS,
  STATE_COLORS,
  isFinal,
  isJobState,
  isTaskStatus,
  canMove,
  predecessors,
  rollUpTask,
  type JobState,
  type FinalState,
  type TaskStatus,
  type JobCounts,
} from "./lifecycle.ts";
export { JobStore, type JobRecord, type TaskRecord, type NewJob, type JobPatch, type Fence, type FenceVerdict, type TransitionResult, type AttemptRecord, type MoveOptions, type OpenTaskInit, type GrowResult } from "./job-store.ts";
export { DispatchQueues, CLAIM_CONFIRM_MS, makeLockToken, parseLockToken, type DispatchQueuesOptions, type ClaimedJob, type ClaimTarget, type ClaimHolder, type ClaimTokenUse, type QueueEntry, type StallOutcome, type LeaseRef } from "./dispatch-queues.ts";
export { autoclusterKey, autoclusterId, bullPriority, jobAdText, AUTOCLUSTER_ID_RE, type AutoclusterKey } from "./autocluster.ts";
export { Reconciler, RECONCILE_DUTY_FACTOR, nextReconcileAt, type ReconcileOptions, type ReconcileSummary, type Repair } from "./reconciler.ts";
// The key layout, for tests that inject the drift a crashed Redis leaves behind and for the
// cluster tests that check where keys land; no service writes these keys itself.
export { jobKeys, hashTag, type JobKeys, type SiteKeys, type TaskKeys } from "./keys.ts";
