// A job's life in one table: its states, the moves between them, which states are final, and how a
// task's status rolls up from its jobs. Pure data and functions; every other file that names a job
// state imports it from here (the Lua scripts get the final states substituted at load time).
//
// States follow PanDA's job states (PanDA wiki, "PandaJobStates"):
//   defined      the intake wrote the job; not yet brokered
//   assigned     brokered to a site, waiting for something before it may run (reserved: the intake
//                activates directly today, as PanDA does when the inputs are already at the site)
//   activated    waiting in its site's queue for a pilot
//   sent         claimed by a pilot (the matchmaker sent it in a signed envelope)
//   starting     the pilot is setting up (credential, stage-in)
//   running      the payload runs
//   holding      the payload ended; stage-out and the final report are in flight. The pilot's lease
//                is still renewed, but lease expiry never requeues a holding job: it waits for its
//                report up to the holding timeout, then fails with JOB_HOLDING_TIMEOUT
//   transferring outputs are being moved off the node (stage-out of large outputs)
//   finished     succeeded (final)
//   failed       failed for good (final; `wms task retry` may reopen it, see REOPENABLE)
//   cancelled    cancelled by its owner (final)
//   closed       ended by the system without running to completion, e.g. its task was aborted (final)

export const JOB_STATES = ["defined", "assigned", "activated", "sent", "starting", "running", "holding", "transferring", "finished", "failed", "cancelled", "closed"] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FINAL_STATES = ["finished", "failed", "cancelled", "closed"] as const satisfies readonly JobState[];
export type FinalState = (typeof FINAL_STATES)[number];

/** Waiting for a pilot: in a queue, not held by anyone. */
export const QUEUED_STATES = ["defined", "assigned", "activated"] as const satisfies readonly JobState[];

/** Held by a pilot's lease, payload not ended: lease expiry means the pilot is lost and requeues the job. */
export const LEASED_STATES = ["sent", "starting", "running"] as const satisfies readonly JobState[];

/**
 * A claim stands unconfirmed while its record is `sent`: the envelope left the matchmaker, but no
 * pilot has said it holds it. The pilot confirms it before it fetches a credential or starts
 * anything — its first heartbeat moves the record `sent → starting` under the claim's lease token
 * (so does its `starting` report) — and one that is refused (the claim was given back first) runs
 * nothing. Both moves are fenced steps on the record, so of a confirmation and a give-back exactly
 * one wins. An unconfirmed claim therefore ran nothing, and is given back to its queue with its
 * attempt unchanged: at once when the matchmaker knows its pilot stopped waiting for the reply (a
 * claim that came back from Redis after the advert's wait), or when its short first lease runs out.
 */
export const UNCONFIRMED_STATE = "sent" satisfies JobState;

/** The state a pilot's confirmation moves an unconfirmed claim to. */
export const CONFIRMED_STATE = "starting" satisfies JobState;

/**
 * How many times lease expiry may give an unconfirmed claim back without a new attempt. A job no
 * pilot ever confirms (every pilot that takes it dies on it) then goes the lost pilot's way (a new
 * attempt, E1104 after the last), instead of going round for ever. Give-backs of claims whose pilot
 * had stopped waiting (a Redis outage, not the job) are not counted.
 */
export const MAX_UNCONFIRMED_GIVE_BACKS = 5;

/** The payload has ended on the node; only the pilot's report (or the holding timeout) moves it on. */
export const REPORTING_STATES = ["holding", "transferring"] as const satisfies readonly JobState[];

/** Every state a pilot holds the job in: it may report, heartbeat and account for it. */
export const PILOT_STATES = [...LEASED_STATES, ...REPORTING_STATES] as const;

/**
 * The states a pilot's StateReport may name: where its own work takes the job. `sent` and the
 * queued states are the matchmaker's and the intake's to set, `closed` the system's; a report
 * naming one is refused where it enters (REPORT_BAD_SCHEMA, dead-lettered), not read.
 */
export const REPORTED_STATES = ["starting", "running", "holding", "transferring", "finished", "failed", "cancelled"] as const satisfies readonly JobState[];

const FINAL_SET: ReadonlySet<JobState> = new Set(FINAL_STATES);

export function isFinal(s: JobState): s is FinalState {
  return FINAL_SET.has(s);
}

export function isJobState(s: string): s is JobState {
  return (JOB_STATES as readonly string[]).includes(s);
}

/**
 * The allowed moves: `MOVES[from]` lists every state `from` may go to. A final state goes nowhere.
 * `activated` is reachable from the pilot states because a lost pilot's job (sent..running) and a
 * retried failure (any pilot state) go back to the queue with a new attempt.
 */
export const MOVES: { readonly [S in JobState]: readonly JobState[] } = {
  defined: ["assigned", "activated", "failed", "cancelled", "closed"],
  assigned: ["activated", "failed", "cancelled", "closed"],
  activated: ["sent", "failed", "cancelled", "closed"],
  sent: ["activated", "starting", "running", "holding", "finished", "failed", "cancelled", "closed"],
  starting: ["activated", "running", "holding", "finished", "failed", "cancelled", "closed"],
  running: ["activated", "holding", "transferring", "finished", "failed", "cancelled", "closed"],
  holding: ["activated", "transferring", "finished", "failed", "cancelled", "closed"],
  transferring: ["activated", "holding", "finished", "failed", "cancelled", "closed"],
  finished: [],
  failed: [],
  cancelled: [],
  closed: [],
};

/**
 * The one way out of a final state: an operator's `wms task retry` reopens a `failed` job as a new
 * attempt (PanDA's JEDI retries a task's failed jobs the same way). Nothing else leaves a final state.
 */
export const REOPENABLE: readonly FinalState[] = ["failed"];

export function canMove(from: JobState, to: JobState): boolean {
  return MOVES[from].includes(to);
}

/** The states a move to `to` may start from (the `from` list a guarded transition passes). */
export function predecessors(to: JobState): JobState[] {
  return JOB_STATES.filter((s) => MOVES[s].includes(to));
}

// ---- tasks ------------------------------------------------------------------------------------

/**
 * A task's status. Named apart from job states on purpose: a task is never "finished" or "failed"
 * in a job's sense (PanDA's JEDI calls a partly successful task "finished", which readers took for
 * "all jobs finished").
 *   active   some job is not final yet
 *   done     every job finished
 *   partial  every job is final, some finished and some did not
 *   broken   every job is final and none finished (at least one failed)
 *   aborted  its owner cancelled it (set at once; its running jobs are cancelled as they report)
 */
export const TASK_STATUSES = ["active", "done", "partial", "broken", "aborted"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export type JobCounts = { readonly [S in JobState]?: number };

/**
 * The status a task's job counts give. `aborted` is sticky (an owner's decision, not a count).
 * An `open` task (its input is another task's output, released file by file) may still get jobs,
 * so it stays `active` however many of its jobs are final. A task closed with no job at all (its
 * producer ended without writing a file) is `broken`: nothing ran, nothing will.
 * The Lua roll-up (scripts/rollup.lua, run by every move into or out of a final state and by the
 * step that grows or closes an open task) computes the same; a test holds the two equal.
 */
export function rollUpTask(counts: JobCounts, njobs: number, current: TaskStatus, open = false): TaskStatus {
  if (current === "aborted") return "aborted";
  if (open) return "active";
  const n = (s: JobState): number => counts[s] ?? 0;
  const final = FINAL_STATES.reduce((t, s) => t + n(s), 0);
  if (njobs === 0) return current;
  if (final < njobs) return "active";
  const finished = n("finished");
  if (finished === njobs) return "done";
  if (finished > 0) return "partial";
  if (n("failed") > 0) return "broken";
  return "aborted";
}

export function isTaskStatus(s: string): s is TaskStatus {
  return (TASK_STATUSES as readonly string[]).includes(s);
}

/** How progress displays (`wms task status --watch`, the demo, the dashboard) group the states. */
export const STATE_GROUPS: ReadonlyArray<readonly [string, readonly JobState[]]> = [
  ["queued", QUEUED_STATES],
  ["running", LEASED_STATES],
  ["holding", REPORTING_STATES],
  ["finished", ["finished"]],
  ["failed", ["failed"]],
  ["cancelled", ["cancelled", "closed"]],
];

/** The dashboard's colour per state (agents/monitor draws with it). */
export const STATE_COLORS: { readonly [S in JobState]: string } = {
  defined: "#c7ccd4",
  assigned: "#d7bde2",
  activated: "#f5b041",
  sent: "#85c1e9",
  starting: "#5dade2",
  running: "#2e86c1",
  holding: "#48c9b0",
  transferring: "#17a589",
  finished: "#27ae60",
  failed: "#c0392b",
  cancelled: "#7f8c8d",
  closed: "#566573",
};
