// Reconciliation: the job records are the truth; the state counters (per task, per site), the
// tasks' error counters (failed jobs per error code), the sites' waiting counters, the ready-set
// entries and the leases are derived from them and can drift when
// Redis loses its last writes (a crash without fsync) or a client dies between two steps. This
// check recomputes them from the records and repairs what disagrees. It repairs by deltas, so a
// second run finds nothing to repair; but two runs at once would both see the same difference and
// apply it twice, so the matchmakers take turns (DispatchQueues.leadReconciliation).
//
// Its cost must follow the live work, not the deployment's history: a task that is over (status not
// active, every job final, unchanged for `settledTaskMs`) cannot drift any more (Redis loses its
// last writes, not old ones), so its records are read once and its share of the site counters is
// remembered until the task changes again (an operator's retry reopens it and moves its updatedAt).
//
// A difference seen while jobs move may be a race, not drift (a claim pops the entry before the
// record moves; an intake writes records before their entries). So a counter is repaired only when
// two counts taken one after the other agree on the same difference, and a queue entry only when the
// record has not changed for `graceMs` and still disagrees when looked at again; a task or site with
// a record younger than that keeps its counters until a later run (an intake writes the records,
// then the counters and the entries).
//
// A pass costs what it reads, and reads each thing once or twice. The records are read light
// (JobStore.tallyJobs: state, site, error code, times, lease token; no spec unless a record's own
// part sets where it queues), a batch at a time, and nothing of them is kept but the counts; that
// first count is also the first of the two a counter repair needs, so a second comes only when it
// finds a difference (of the tasks concerned only, when no site's counter differs). The queues
// (waiting ids, leases) are read once, before the records, and compared with them in memory: only
// the jobs that disagree are looked at again, each on its own. Read first, the queues show a job
// whose record has not changed for `graceMs` where its record says as long as the pass takes less
// than `graceMs`; a longer pass finds more jobs to look at again, never a wrong repair (each is
// checked again as before). And the matchmaker spaces passes by their duration
// (RECONCILE_DUTY_FACTOR), so a deployment larger than its machine is checked less often rather
// than starving matching.
import { JobStore, type JobTally } from "./job-store.ts";
import type { DispatchQueues } from "./dispatch-queues.ts";
import { JOB_STATES, LEASED_STATES, isFinal, type JobState } from "./lifecycle.ts";
import { autoclusterId, autoclusterKey } from "./autocluster.ts";

export interface ReconcileOptions {
  /** A record younger than this is left alone by the queue repairs (its own writer may be mid-way). */
  readonly graceMs?: number;
  readonly now?: () => number;
  /** A task over and unchanged for this long is read once and remembered (default 10 min). */
  readonly settledTaskMs?: number;
}

export interface RunOptions {
  /** Stops a run between two batches of records (a matchmaker that is stopping does not wait for a whole pass). */
  readonly signal?: AbortSignal;
}

/** One thing the reconciler changed, for the log. */
export interface Repair {
  readonly kind: "task-count" | "site-count" | "error-count" | "waiting-count" | "entry-restored" | "entry-dropped" | "lease-restored";
  /** Task id, site, or job id. */
  readonly subject: string;
  /** For counters: state (or error code) -> correction applied; for entries: the job's state. */
  readonly detail: string;
}

export interface ReconcileSummary {
  /** Job records read by the first pass (a task that is over is read once, then remembered). */
  readonly jobsScanned: number;
  /** Queue entries and leases read (each once per pass). */
  readonly entriesScanned: number;
  /** How long the pass took (ms). */
  readonly durationMs: number;
  readonly repairs: readonly Repair[];
  /** Repairs by kind (every kind present, zero when none). */
  readonly counts: Readonly<Record<Repair["kind"], number>>;
}

/**
 * A pass may take at most 1/RECONCILE_DUTY_FACTOR of the time of the matchmaker that runs it: the
 * next starts no sooner than this many times the last one's duration after it started (and no
 * sooner than the configured interval). A deployment far larger than its matchmaker's machine then
 * reconciles less often rather than crowding out matching, which pilots wait on; drift is rare
 * (a Redis that lost its last writes, a client dead between two steps), so a repair that comes
 * later costs little. 10 leaves 90 % of the time to matching.
 */
export const RECONCILE_DUTY_FACTOR = 10;

/** When the pass after one that started at `startedAt` and took `durationMs` may start (ms). */
export function nextReconcileAt(startedAt: number, durationMs: number, intervalMs: number): number {
  return startedAt + Math.max(intervalMs, RECONCILE_DUTY_FACTOR * durationMs);
}

const DEFAULT_GRACE_MS = 30_000;
const DEFAULT_SETTLED_TASK_MS = 10 * 60_000;
/** Records per tally-1.lua call: one step of a task shard, about a millisecond of Redis. */
const SCAN_BATCH = 500;
/**
 * Jobs looked at again, sites read or counters compared at once: a few commands each, sent
 * together rather than one wait each.
 */
const CHECK_BATCH = 16;

interface Tally {
  readonly tasks: Map<string, Record<string, number>>;
  readonly sites: Map<string, Record<string, number>>;
  /** Failed jobs per error code, by task: what the task's error counters must say. */
  readonly errors: Map<string, Record<string, number>>;
  /** Jobs the store says wait in a queue (`activated`), by site. */
  readonly waiting: Map<string, number>;
  /** Tasks and sites with a record younger than the grace period: an intake may be between its steps. */
  readonly unsettled: Set<string>;
}

/** One ready set: one object per (site, autocluster), shared by all its entries. */
interface ReadySet {
  readonly site: string;
  readonly autocluster: string;
}

/** The queues as read at the start of a pass. */
interface Queues {
  /**
   * Waiting job id → its ready set (an array only when drift put it in several). The first pass
   * over the records takes out each id whose job is activated or leased: what is left are the
   * entries whose job must not run, or whose record was not read.
   */
  readonly waiting: Map<string, ReadySet | ReadySet[]>;
  /** Site → job id → the lease token it holds. */
  readonly held: Map<string, Map<string, string>>;
  size: number;
}

/** The jobs whose records disagree with the queues as read: each is looked at again. */
interface Suspects {
  /** Activated, in no ready set of theirs and under no lease. */
  readonly unqueued: JobTally[];
  /** Leased (sent, starting, running), their site holding another lease token or none. */
  readonly unleased: JobTally[];
  /** The records of waiting entries whose job is neither activated nor leased. */
  readonly others: Map<string, JobTally>;
}

function bump(m: Map<string, Record<string, number>>, k: string, state: string, by = 1): void {
  let r = m.get(k);
  if (!r) m.set(k, (r = {}));
  r[state] = (r[state] ?? 0) + by;
}

function isLeased(state: JobState): boolean {
  return (LEASED_STATES as readonly JobState[]).includes(state);
}

function waitsIn(at: ReadySet | readonly ReadySet[] | undefined, site: string, autocluster: string | undefined): boolean {
  if (at === undefined) return false;
  if (!Array.isArray(at)) return (at as ReadySet).site === site && (at as ReadySet).autocluster === autocluster;
  return (at as readonly ReadySet[]).some((r) => r.site === site && r.autocluster === autocluster);
}

/** Runs `check` over `items`, CHECK_BATCH at a time. */
async function inBatches<T>(items: readonly T[], signal: AbortSignal | undefined, check: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += CHECK_BATCH) {
    signal?.throwIfAborted();
    await Promise.all(items.slice(i, i + CHECK_BATCH).map(check));
  }
}

/** What a task that is over adds to the tally: its state counts, its failures by code, its jobs per site and state. */
interface SettledShare {
  /** The task record's updatedAt when it was read: a later change (a retry) makes it stale. */
  readonly updatedAt: number;
  readonly states: Record<string, number>;
  readonly errors: Record<string, number>;
  readonly sites: Map<string, Record<string, number>>;
}

/** expected - actual per key (every job state, or `keys`), zero entries left out. */
function diff(expected: Readonly<Record<string, number>>, actual: Readonly<Record<string, number>>, keys: readonly string[] = JOB_STATES): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of keys) {
    const d = (expected[s] ?? 0) - (actual[s] ?? 0);
    if (d !== 0) out[s] = d;
  }
  return out;
}

function same(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function fmt(d: Readonly<Record<string, number>>): string {
  return Object.entries(d)
    .map(([s, n]) => `${s}${n > 0 ? "+" : ""}${n}`)
    .join(",");
}

export class Reconciler {
  private readonly graceMs: number;
  private readonly now: () => number;
  private readonly settledTaskMs: number;
  private readonly settledShares = new Map<string, SettledShare>();
  /** When the last pass started (epoch ms) and how long it took, finished or not. */
  private last: { readonly startedAt: number; readonly durationMs: number } | undefined;

  constructor(
    private readonly store: JobStore,
    private readonly dispatch: DispatchQueues,
    opts: ReconcileOptions = {},
  ) {
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.now = opts.now ?? Date.now;
    this.settledTaskMs = opts.settledTaskMs ?? DEFAULT_SETTLED_TASK_MS;
  }

  /** The remembered share of a task that is over, if it still holds; else undefined (read its records). */
  private async settledShare(taskId: string): Promise<SettledShare | undefined> {
    const share = this.settledShares.get(taskId);
    if (!share) return undefined;
    const task = await this.store.getTask(taskId);
    if (task?.updatedAt === share.updatedAt && task.status !== "active") return share;
    this.settledShares.delete(taskId);
    return undefined;
  }

  /**
   * Counts the records (of every task, or of `only`), handing each record read to `visit`. Keeps
   * the counts and nothing of the records.
   */
  private async tally(signal: AbortSignal | undefined, scanned: { n: number }, visit?: (j: JobTally) => void, only?: ReadonlySet<string>): Promise<Tally> {
    const t: Tally = { tasks: new Map(), sites: new Map(), errors: new Map(), waiting: new Map(), unsettled: new Set() };
    const taskIds = await this.store.allTaskIds();
    if (!only) {
      const live = new Set(taskIds);
      for (const id of this.settledShares.keys()) if (!live.has(id)) this.settledShares.delete(id);
    }
    for (const taskId of taskIds) {
      if (only && !only.has(taskId)) continue;
      signal?.throwIfAborted();
      const share = await this.settledShare(taskId);
      if (share) {
        t.tasks.set(taskId, { ...share.states });
        t.errors.set(taskId, { ...share.errors });
        for (const [site, states] of share.sites) for (const [state, n] of Object.entries(states)) bump(t.sites, site, state, n);
        continue;
      }
      // Read before the records: a change made while they are read moves updatedAt past this one.
      const task = await this.store.getTask(taskId);
      t.tasks.set(taskId, {});
      t.errors.set(taskId, {});
      const own = { sites: new Map<string, Record<string, number>>(), allFinal: true };
      for await (const batch of this.store.tallyJobs(taskId, SCAN_BATCH)) {
        signal?.throwIfAborted();
        scanned.n += batch.length;
        for (const rec of batch) {
          if (!this.settled(rec)) t.unsettled.add(`task\n${taskId}`).add(`errors\n${taskId}`).add(`site\n${rec.queueSite}`).add(`waiting\n${rec.queueSite}`);
          if (!isFinal(rec.state)) own.allFinal = false;
          bump(t.tasks, taskId, rec.state);
          // The transition script counts a failure when the job enters `failed`, and takes it back when an operator's retry reopens it.
          if (rec.state === "failed" && rec.errorCode !== undefined) bump(t.errors, taskId, String(rec.errorCode));
          // The transition script counts a job at its record's site (empty until brokered).
          if (rec.site) {
            bump(t.sites, rec.site, rec.state);
            bump(own.sites, rec.site, rec.state);
          }
          if (rec.state === "activated") t.waiting.set(rec.queueSite, (t.waiting.get(rec.queueSite) ?? 0) + 1);
          visit?.(rec);
        }
      }
      if (task && task.status !== "active" && own.allFinal && this.now() - task.updatedAt >= this.settledTaskMs) {
        this.settledShares.set(taskId, { updatedAt: task.updatedAt, states: { ...t.tasks.get(taskId) }, errors: { ...t.errors.get(taskId) }, sites: own.sites });
      }
    }
    return t;
  }

  /** The counters' differences from a tally: task and site state counts, waiting counts. */
  private async counterDiffs(t: Tally, sites: readonly string[], signal: AbortSignal | undefined): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    await inBatches([...t.tasks], signal, async ([taskId, expected]) => {
      const [states, counted] = await Promise.all([this.store.taskCounts(taskId), this.store.taskErrors(taskId)]);
      const d = diff(expected, states);
      if (Object.keys(d).length > 0) out.set(`task\n${taskId}`, d);
      const want = t.errors.get(taskId) ?? {};
      const e = diff(want, counted, [...new Set([...Object.keys(want), ...Object.keys(counted)])]);
      if (Object.keys(e).length > 0) out.set(`errors\n${taskId}`, e);
    });
    const waiting = sites.length > 0 ? await this.dispatch.waitingCounts() : {};
    await inBatches(sites, signal, async (site) => {
      const d = diff(t.sites.get(site) ?? {}, await this.store.siteCounts(site));
      if (Object.keys(d).length > 0) out.set(`site\n${site}`, d);
      const w = (t.waiting.get(site) ?? 0) - (waiting[site] ?? 0);
      if (w !== 0) out.set(`waiting\n${site}`, { activated: w });
    });
    return out;
  }

  /** When the next pass may start (epoch ms): at once before the first, else `nextReconcileAt`. */
  nextPassAt(intervalMs: number): number {
    return this.last === undefined ? 0 : nextReconcileAt(this.last.startedAt, this.last.durationMs, intervalMs);
  }

  /**
   * One pass: repairs queue entries first (which move waiting counts), then every counter. With a
   * signal, an abort ends the run between two batches (it rejects with the signal's reason);
   * what it repaired by then stays repaired.
   */
  async run(opts: RunOptions = {}): Promise<ReconcileSummary> {
    opts.signal?.throwIfAborted();
    const startedAt = Date.now();
    let summary: Omit<ReconcileSummary, "durationMs">;
    try {
      summary = await this.pass(opts.signal);
    } finally {
      // A pass that failed or was stopped spent its time too.
      this.last = { startedAt, durationMs: Date.now() - startedAt };
    }
    return { ...summary, durationMs: this.last.durationMs };
  }

  private async pass(signal: AbortSignal | undefined): Promise<Omit<ReconcileSummary, "durationMs">> {
    const repairs: Repair[] = [];
    const scanned = { n: 0 };
    const queues = await this.readQueues(await this.dispatch.sites(), signal);
    const entriesScanned = queues.size;
    const suspects: Suspects = { unqueued: [], unleased: [], others: new Map() };
    // The first count, which also finds the jobs whose records disagree with the queues.
    const first = await this.tally(signal, scanned, (rec) => this.compare(rec, queues, suspects));
    const jobsScanned = scanned.n;
    await this.repairEntries(queues, suspects, repairs, signal);

    // Its counts are compared with the counters as they are after the entry repairs (which moved
    // waiting counts; the records they left as they were). A difference is repaired only when a
    // second count agrees: of every record, or of the tasks concerned when only tasks differ.
    const sites = [...new Set([...(await this.dispatch.sites()), ...first.sites.keys(), ...first.waiting.keys()])];
    const a = await this.counterDiffs(first, sites, signal);
    if (a.size > 0) {
      const keys = [...a.keys()].map((k) => k.split("\n") as [string, string]);
      const tasksOnly = keys.every(([kind]) => kind === "task" || kind === "errors");
      const t = await this.tally(signal, scanned, undefined, tasksOnly ? new Set(keys.map(([, id]) => id)) : undefined);
      const b = await this.counterDiffs(t, tasksOnly ? [] : sites, signal);
      for (const [k, d] of a) {
        signal?.throwIfAborted();
        const d2 = b.get(k);
        if (!d2 || !same(d, d2) || t.unsettled.has(k)) continue;
        const [kind, subject] = k.split("\n") as [string, string];
        if (kind === "task") await this.store.adjustCounts({ taskId: subject }, d);
        else if (kind === "site") await this.store.adjustCounts({ site: subject }, d);
        else if (kind === "errors") await this.store.adjustErrorCounts(subject, d);
        else await this.dispatch.adjustWaiting(subject, d.activated ?? 0);
        repairs.push({ kind: kind === "task" ? "task-count" : kind === "site" ? "site-count" : kind === "errors" ? "error-count" : "waiting-count", subject, detail: fmt(d) });
      }
    }
    const counts = { "task-count": 0, "site-count": 0, "error-count": 0, "waiting-count": 0, "entry-restored": 0, "entry-dropped": 0, "lease-restored": 0 };
    for (const r of repairs) counts[r.kind]++;
    return { jobsScanned, entriesScanned, repairs, counts };
  }

  private settled(rec: { readonly updatedAt: number }): boolean {
    return this.now() - rec.updatedAt >= this.graceMs;
  }

  /** Every site's waiting ids and leases, read once (a few sites at a time). */
  private async readQueues(sites: readonly string[], signal: AbortSignal | undefined): Promise<Queues> {
    const q: Queues = { waiting: new Map(), held: new Map(), size: 0 };
    await inBatches(sites, signal, async (site) => {
      const held = await this.dispatch.heldTokens(site);
      q.held.set(site, held);
      q.size += held.size;
      const sets = new Map<string, ReadySet>();
      for await (const page of this.dispatch.waitingPages(site)) {
        signal?.throwIfAborted();
        let rs = sets.get(page.autocluster);
        if (!rs) sets.set(page.autocluster, (rs = { site, autocluster: page.autocluster }));
        q.size += page.ids.length;
        for (const id of page.ids) {
          const at = q.waiting.get(id);
          if (at === undefined) q.waiting.set(id, rs);
          else if (Array.isArray(at)) {
            if (!at.includes(rs)) at.push(rs);
          } else if (at !== rs) q.waiting.set(id, [at as ReadySet, rs]);
        }
      }
    });
    return q;
  }

  /** A record against the queues: marks its job a suspect when they disagree. */
  private compare(rec: JobTally, q: Queues, s: Suspects): void {
    const at = q.waiting.get(rec.jobId);
    if (rec.state === "activated") {
      // Its entries are where it should be (checked next), not entries that must not run.
      if (at !== undefined) q.waiting.delete(rec.jobId);
      if (!this.settled(rec) || waitsIn(at, rec.queueSite, rec.autocluster) || q.held.get(rec.queueSite)?.has(rec.jobId)) return;
      s.unqueued.push(rec);
    } else if (isLeased(rec.state)) {
      // A leased job's entry back in its ready set is the lease check's (a lost pilot, a new attempt).
      if (at !== undefined) q.waiting.delete(rec.jobId);
      if (!rec.leaseToken || !rec.site || !this.settled(rec) || q.held.get(rec.site)?.get(rec.jobId) === rec.leaseToken) return;
      s.unleased.push(rec);
    } else if (at !== undefined) s.others.set(rec.jobId, rec);
  }

  private async repairEntries(q: Queues, s: Suspects, repairs: Repair[], signal: AbortSignal | undefined): Promise<void> {
    // An activated job with no entry would never be offered to a pilot.
    await inBatches(s.unqueued, signal, async (rec) => {
      if (rec.autocluster === undefined || (await this.dispatch.entryAt(rec.queueSite, rec.autocluster, rec.jobId)) !== "unknown") return;
      const again = await this.store.getJob(rec.jobId);
      if (again?.state !== "activated" || again.updatedAt !== rec.updatedAt) return;
      await this.dispatch.restoreEntry({ ...again.spec, site: again.site || again.spec.site, attempt: again.attempt });
      repairs.push({ kind: "entry-restored", subject: rec.jobId, detail: "activated" });
    });
    // A leased job whose site lost its lease would never be looked at again if its pilot died: it
    // gets a lease that has already run out, and the lease check settles it (new attempt or not).
    await inBatches(s.unleased, signal, async (rec) => {
      if (!rec.leaseToken || (await this.dispatch.leaseOf(rec.site, rec.jobId)) === rec.leaseToken) return;
      const again = await this.store.getJob(rec.jobId);
      if (again?.leaseToken !== rec.leaseToken || again.updatedAt !== rec.updatedAt) return;
      await this.dispatch.restoreLease(rec.site, rec.jobId, rec.leaseToken);
      repairs.push({ kind: "lease-restored", subject: rec.jobId, detail: rec.state });
    });
    // A waiting entry whose job must not run (final, its payload ended, or no record): a pilot
    // would claim it for nothing. Left in `q.waiting` are the entries of jobs neither activated
    // nor leased, and of jobs whose records were not read (a task that is over, or no record).
    const entries: Array<[string, ReadySet]> = [];
    for (const [jobId, at] of q.waiting) for (const rs of Array.isArray(at) ? (at as ReadySet[]) : [at as ReadySet]) entries.push([jobId, rs]);
    await inBatches(entries, signal, async ([jobId, rs]) => {
      const rec = s.others.get(jobId) ?? (await this.store.getJob(jobId));
      if (rec && (rec.state === "activated" || isLeased(rec.state))) return;
      if (rec && !this.settled(rec)) return;
      const again = await this.store.getJob(jobId);
      if (again && (again.state === "activated" || isLeased(again.state) || again.updatedAt !== rec?.updatedAt)) return;
      if (!rec && again) return;
      // Lives in this queue only if the record agrees on the queue (or there is no record). A
      // record gone since it was counted is taken as it was then: its entry must not run either.
      const spec = again?.spec ?? (rec && "spec" in rec ? rec.spec : undefined);
      if (spec && autoclusterId(autoclusterKey(spec)) !== rs.autocluster) return;
      if (await this.dispatch.dropWaiting(rs.site, rs.autocluster, jobId)) repairs.push({ kind: "entry-dropped", subject: jobId, detail: rec?.state ?? "no record" });
    });
  }
}
