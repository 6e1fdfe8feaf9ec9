// Where jobs/ keeps its keys, and which Redis Cluster hash slot each lands in. Two kinds of shard:
//
// - a **site shard** (hash tag `{<ns>:s:<site>}`): the site's ready sets (one per autocluster), its
//   autocluster index, its leases, its waiting and state counters, its holding index and its error
//   counts. A claim, a lease renewal, an expiry and an enqueue touch this slot only.
// - a **task shard** (hash tag `{<ns>:t:<taskId>}`): the task record, its counters, its spec template
//   and every job record of the task. A transition or a fence check touches this slot only.
//
// A few namespace-wide keys stay outside both (the task index, the list of sites, task names,
// dataset producers, open tasks); they are written by single commands, never inside a script or a pipeline with
// shard keys. Every key starts with `<ns>:` so the namespace clean-up finds it.
import type { WireNames } from "../schemas/index.ts";
export { slotTag as hashTag } from "../platform/redis-script.ts";

/**
 * A job id is `<taskId>.<index>` (brokerage's jobIdFor): the task, and so the job's shard, is known
 * from the id alone, and a queue entry needs to hold nothing else.
 */
export function taskIdOf(jobId: string): string {
  const i = jobId.lastIndexOf(".");
  if (i <= 0) throw new Error(`job id '${jobId}' is not <taskId>.<index>`);
  return jobId.slice(0, i);
}

export interface SiteKeys {
  /** job id -> when its lease runs out (ms). */
  readonly lease: string;
  /** job id -> the lease token of its claim. */
  readonly held: string;
  /** The autoclusters with a non-empty ready set (the shape index a matchmaker reads). */
  readonly live: string;
  /** autocluster id -> its AutoclusterKey as JSON (every shape the site ever queued). */
  readonly acs: string;
  /** Hash: `waiting` (entries in the ready sets), `seq` (FIFO order of entries). */
  readonly n: string;
  /** Job state -> number of the site's jobs in it. */
  readonly states: string;
  /** job id -> when its payload ended (holding/transferring), for the holding timeout. */
  readonly holding: string;
  /** Error code -> failures and refused updates counted at this site. */
  readonly errors: string;
  /** Which matchmaker runs this site's lease and holding checks now (SET NX PX). */
  readonly checker: string;
  /** When a matchmaker last held `checker` (ms): the gap a new one finds is added to every lease. */
  readonly checked: string;
  /** The ready set of one autocluster: job id, scored FIFO. */
  ready(ac: string): string;
}

export interface TaskKeys {
  readonly task: string;
  readonly states: string;
  readonly errors: string;
  readonly jobs: string;
  /** The spec fields every job of the task shares (JSON); a job record keeps only what differs. */
  readonly tpl: string;
  /** An open task's input files already in one of its jobs (set of `<dataset>\n<lfn>`). */
  readonly consumed: string;
  /** What an open task's planner needs to make more jobs (opaque to jobs/: the intake's JSON). */
  readonly plan: string;
  job(jobId: string): string;
  attempts(jobId: string): string;
}

export interface JobKeys {
  site(site: string): SiteKeys;
  task(taskId: string): TaskKeys;
  /** Namespace-wide: every site that ever had a job (read to sum per-site counters). */
  readonly sites: string;
  readonly tasks: string;
  readonly producers: string;
  /** The tasks still open for more jobs (their producer may still add input files). */
  readonly openTasks: string;
  /** Which matchmaker runs the reconciliation now (SET NX PX): one at a time, or two would apply the same delta twice. */
  readonly reconciler: string;
  taskName(ownerHash: string, taskName: string): string;
}

/** Sites and tasks whose key sets a `jobKeys` keeps made; past this it starts over (bounds memory). */
const MAX_MEMO_SITES = 10_000;
const MAX_MEMO_TASKS = 4096;

/**
 * A site's or task's key names are asked for on every claim, transition and lease renewal: each key
 * set is made once and kept (a claim built nine key strings and a closure for each of its two
 * lookups), up to a bound, since site names and task ids come from the outside.
 */
function memo<T>(max: number, make: (id: string) => T): (id: string) => T {
  const made = new Map<string, T>();
  return (id) => {
    let v = made.get(id);
    if (v === undefined) {
      if (made.size >= max) made.clear();
      made.set(id, (v = make(id)));
    }
    return v;
  };
}

export function jobKeys(names: WireNames): JobKeys {
  const ns = names.namespace;
  const p = names.redisPrefix;
  return {
    site: memo(MAX_MEMO_SITES, (site): SiteKeys => {
      const b = `${p}{${ns}:s:${site}}:`;
      return {
        lease: `${b}lease`,
        held: `${b}held`,
        live: `${b}live`,
        acs: `${b}acs`,
        n: `${b}n`,
        states: `${b}states`,
        holding: `${b}holding`,
        errors: `${b}errors`,
        checker: `${b}checker`,
        checked: `${b}checked`,
        ready: (ac) => `${b}r:${ac}`,
      };
    }),
    task: memo(MAX_MEMO_TASKS, (taskId): TaskKeys => {
      const b = `${p}{${ns}:t:${taskId}}:`;
      return {
        task: `${b}task`,
        states: `${b}states`,
        errors: `${b}errors`,
        jobs: `${b}jobs`,
        tpl: `${b}tpl`,
        consumed: `${b}consumed`,
        plan: `${b}plan`,
        job: (jobId) => `${b}j:${jobId}`,
        attempts: (jobId) => `${b}a:${jobId}`,
      };
    }),
    sites: names.redisKey("jobs", "sites"),
    tasks: names.redisKey("tasks"),
    producers: names.redisKey("dataset-producers"),
    openTasks: names.redisKey("open-tasks"),
    reconciler: names.redisKey("jobs", "reconciler"),
    taskName: (ownerHash, taskName) => names.redisKey("task-name", ownerHash, taskName),
  };
}
