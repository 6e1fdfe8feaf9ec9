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
import { JobStore, type JobRecord } from "./job-store.ts";
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
  readonly repairs: readonly Repair[];
  /** Repairs by kind (every kind present, zero when none). */
  readonly counts: Readonly<Record<Repair["kind"], number>>;
}

const DEFAULT_GRACE_MS = 30_000;
const DEFAULT_SETTLED_TASK_MS = 10 * 60_000;
const SCAN_BATCH = 500;

interface Tally {
  readonly tasks: Map<string, Record<string, number>>;
  readonly sites: Map<string, Record<string, number>>;
  /** Failed jobs per error code, by task: what the task's error counters must say. */
  readonly errors: Map<string, Record<string, number>>;
  /** Jobs the store says wait in a queue (`activated`), by site. */
  readonly waiting: Map<string, number>;
  readonly activated: JobRecord[];
  /** Jobs the store says a pilot holds under a lease (sent, starting, running). */
  readonly leased: JobRecord[];
  readonly byId: Map<string, JobRecord>;
  /** Tasks and sites with a record younger than the grace period: an intake may be between its steps. */
  readonly unsettled: Set<string>;
}

function bump(m: Map<string, Record<string, number>>, k: string, state: string, by = 1): void {
  let r = m.get(k);
  if (!r) m.set(k, (r = {}));
  r[state] = (r[state] ?? 0) + by;
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

  private async tally(signal: AbortSignal | undefined, scanned: { n: number }): Promise<Tally> {
    const t: Tally = { tasks: new Map(), sites: new Map(), errors: new Map(), waiting: new Map(), activated: [], leased: [], byId: new Map(), unsettled: new Set() };
    const taskIds = await this.store.allTaskIds();
    const live = new Set(taskIds);
    for (const id of this.settledShares.keys()) if (!live.has(id)) this.settledShares.delete(id);
    for (const taskId of taskIds) {
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
      const ids = await this.store.jobIds(taskId);
      for (let i = 0; i < ids.length; i += SCAN_BATCH) {
        signal?.throwIfAborted();
        const batch = await this.store.listJobs(taskId, { offset: i, limit: SCAN_BATCH });
        scanned.n += batch.length;
        for (const rec of batch) {
          t.byId.set(rec.jobId, rec);
          if (!this.settled(rec)) t.unsettled.add(`task\n${taskId}`).add(`errors\n${taskId}`).add(`site\n${rec.site || rec.spec.site}`).add(`waiting\n${rec.site || rec.spec.site}`);
          if (!isFinal(rec.state)) own.allFinal = false;
          bump(t.tasks, taskId, rec.state);
          // The transition script counts a failure when the job enters `failed`, and takes it back when an operator's retry reopens it.
          if (rec.state === "failed" && rec.errorCode !== undefined) bump(t.errors, taskId, String(rec.errorCode));
          // The transition script counts a job at its record's site (empty until brokered).
          if (rec.site) {
            bump(t.sites, rec.site, rec.state);
            bump(own.sites, rec.site, rec.state);
          }
          if (rec.state === "activated") {
            const site = rec.site || rec.spec.site;
            t.waiting.set(site, (t.waiting.get(site) ?? 0) + 1);
            t.activated.push(rec);
          }
          if ((LEASED_STATES as readonly JobState[]).includes(rec.state) && rec.leaseToken && rec.site) t.leased.push(rec);
        }
      }
      if (task && task.status !== "active" && own.allFinal && this.now() - task.updatedAt >= this.settledTaskMs) {
        this.settledShares.set(taskId, { updatedAt: task.updatedAt, states: { ...t.tasks.get(taskId) }, errors: { ...t.errors.get(taskId) }, sites: own.sites });
      }
    }
    return t;
  }

  /** The counters' differences from a tally: task and site state counts, waiting counts. */
  private async counterDiffs(t: Tally, sites: readonly string[]): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    for (const [taskId, expected] of t.tasks) {
      const d = diff(expected, await this.store.taskCounts(taskId));
      if (Object.keys(d).length > 0) out.set(`task\n${taskId}`, d);
      const counted = await this.store.taskErrors(taskId);
      const want = t.errors.get(taskId) ?? {};
      const e = diff(want, counted, [...new Set([...Object.keys(want), ...Object.keys(counted)])]);
      if (Object.keys(e).length > 0) out.set(`errors\n${taskId}`, e);
    }
    const waiting = await this.dispatch.waitingCounts();
    for (const site of sites) {
      const d = diff(t.sites.get(site) ?? {}, await this.store.siteCounts(site));
      if (Object.keys(d).length > 0) out.set(`site\n${site}`, d);
      const w = (t.waiting.get(site) ?? 0) - (waiting[site] ?? 0);
      if (w !== 0) out.set(`waiting\n${site}`, { activated: w });
    }
    return out;
  }

  /**
   * One pass: repairs queue entries first (which move waiting counts), then every counter. With a
   * signal, an abort ends the run between two batches (it rejects with the signal's reason);
   * what it repaired by then stays repaired.
   */
  async run(opts: RunOptions = {}): Promise<ReconcileSummary> {
    const { signal } = opts;
    const repairs: Repair[] = [];
    const scanned = { n: 0 };
    const first = await this.tally(signal, scanned);
    const jobsScanned = scanned.n;
    await this.repairEntries(first, repairs, signal);

    const sites = [...new Set([...(await this.dispatch.sites()), ...first.sites.keys(), ...first.waiting.keys()])];
    const a = await this.counterDiffs(await this.tally(signal, scanned), sites);
    if (a.size > 0) {
      const t = await this.tally(signal, scanned);
      const b = await this.counterDiffs(t, sites);
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
    return { jobsScanned, repairs, counts };
  }

  private settled(rec: JobRecord): boolean {
    return this.now() - rec.updatedAt >= this.graceMs;
  }

  private async repairEntries(t: Tally, repairs: Repair[], signal: AbortSignal | undefined): Promise<void> {
    // An activated job with no entry would never be offered to a pilot.
    for (const rec of t.activated) {
      signal?.throwIfAborted();
      if (!this.settled(rec)) continue;
      const spec = { ...rec.spec, site: rec.site || rec.spec.site, attempt: rec.attempt };
      if ((await this.dispatch.entryState(spec)) !== "unknown") continue;
      const again = await this.store.getJob(rec.jobId);
      if (again?.state !== "activated" || again.updatedAt !== rec.updatedAt) continue;
      await this.dispatch.restoreEntry(spec);
      repairs.push({ kind: "entry-restored", subject: rec.jobId, detail: "activated" });
    }
    // A leased job whose site lost its lease would never be looked at again if its pilot died: it
    // gets a lease that has already run out, and the lease check settles it (new attempt or not).
    for (const rec of t.leased) {
      signal?.throwIfAborted();
      if (!this.settled(rec) || !rec.leaseToken) continue;
      if ((await this.dispatch.leaseOf(rec.site, rec.jobId)) === rec.leaseToken) continue;
      const again = await this.store.getJob(rec.jobId);
      if (again?.leaseToken !== rec.leaseToken || again.updatedAt !== rec.updatedAt) continue;
      await this.dispatch.restoreLease(rec.site, rec.jobId, rec.leaseToken);
      repairs.push({ kind: "lease-restored", subject: rec.jobId, detail: rec.state });
    }
    // A waiting entry whose job must not run (final, its payload ended, or no record): a pilot
    // would claim it for nothing. A leased job's entry back in its ready set is the lease check's
    // (a lost pilot, a new attempt), not this one's.
    for (const site of await this.dispatch.sites()) {
      for (const ac of Object.keys(await this.dispatch.autoclusters(site))) {
        signal?.throwIfAborted();
        for (const jobId of await this.dispatch.waitingIds(site, ac)) {
          const rec = t.byId.get(jobId) ?? (await this.store.getJob(jobId));
          if (rec && (rec.state === "activated" || (LEASED_STATES as readonly JobState[]).includes(rec.state))) continue;
          if (rec && !this.settled(rec)) continue;
          const again = await this.store.getJob(jobId);
          if (again && (again.state === "activated" || (LEASED_STATES as readonly JobState[]).includes(again.state) || again.updatedAt !== rec?.updatedAt)) continue;
          if (!rec && again) continue;
          // Lives in this queue only if the record agrees on the queue (or there is no record).
          if (rec && autoclusterId(autoclusterKey(rec.spec)) !== ac) continue;
          if (await this.dispatch.dropWaiting(site, ac, jobId)) repairs.push({ kind: "entry-dropped", subject: jobId, detail: rec?.state ?? "no record" });
        }
      }
    }
  }
}
