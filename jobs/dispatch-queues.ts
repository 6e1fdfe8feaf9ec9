// The BullMQ side of dispatch: one queue per (site, autocluster), claims under a lock that pilot
// heartbeats extend, and recovery of jobs whose pilot went silent. BullMQ holds the queues; the
// JobStore holds the records (state, attempt). This file keeps the two in step.
import { Job, Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { ERR, type JobSpec, type WireNames } from "../schemas/index.ts";
import { randomHex } from "../security/index.ts";
import { JobStore, type SideWrites } from "./job-store.ts";
import { LEASED_STATES, type JobState } from "./lifecycle.ts";
import { AUTOCLUSTER_ID_RE, autoclusterId, autoclusterKey, bullPriority, type AutoclusterKey } from "./autocluster.ts";

export interface DispatchQueuesOptions {
  /** BullMQ needs `maxRetriesPerRequest: null` on this connection. */
  readonly connection: Redis;
  /** For our own commands (JobStore transitions, counters, index): the auto-pipelined one (see openRedis). Defaults to `connection`. */
  readonly redis?: Redis;
  readonly names: WireNames;
  /** How long a claim lives without a heartbeat. */
  readonly lockMs: number;
  /** How often the stalled-job check runs; a silent pilot's job is back in its queue within lockMs + 2 × this. */
  readonly stalledIntervalMs: number;
  /**
   * BullMQ's own stall limit. Kept high on purpose: the job's `maxAttempts`, counted in the JobStore,
   * decides when a job fails for good (PILOT_LOST_HEARTBEAT), so retries of every cause share one count.
   */
  readonly maxStalledCount?: number;
  /**
   * How long a job whose payload ended (holding/transferring) waits for its final report before it
   * fails with JOB_HOLDING_TIMEOUT; checked with the stalled checks. Default 6 hours.
   */
  readonly holdingTimeoutMs?: number;
  /** Background failures (stalled checks) are reported here rather than thrown at nobody. */
  readonly onError?: (err: Error, context: string) => void;
}

/** A job taken off its queue for one pilot: moved `activated → sent` in the JobStore, locked in BullMQ. */
export interface ClaimedJob {
  readonly spec: JobSpec;
  readonly lockToken: string;
  readonly site: string;
  readonly autocluster: string;
  /** The attempt this dispatch is (the JobStore's count, 1-based). */
  readonly attempt: number;
}

/**
 * What a queue entry holds: the job id is the BullMQ job id; the rest is what a claim needs before
 * it has read the record (the one-time key binds the user). Never the spec: the record is the truth.
 */
export interface QueueEntry {
  readonly taskId: string;
  readonly userDn: string;
  /**
   * The attempt it was queued as: a one-time key is bound to it before the claim's step reads the
   * record. A lost pilot's requeue raises the record's attempt, not this: the claim returns the
   * record's, and a caller whose key named another attempt rebinds it.
   */
  readonly attempt: number;
}

/** The job a claim is about to take, as its queue entry names it. */
export interface ClaimTarget extends QueueEntry {
  readonly jobId: string;
}

/** Writes a claim carries into its atomic step, and what the caller gets back with the claim. */
export interface ClaimWrites<T> {
  readonly writes: SideWrites;
  readonly value: T;
}

/** What the stalled-job recovery did with one job, for logs and metrics. */
export type StallOutcome = "requeued" | "failed" | "dropped" | "skipped";

const BULL_JOB_NAME = "job";
const JOB_OPTS = { removeOnComplete: true, removeOnFail: true } as const;
// Lease expiry requeues only these: a job in holding/transferring has a payload that ended, and
// waits for its report (or the holding timeout), never for another pilot.
const LIVE_STATES: readonly JobState[] = LEASED_STATES;
const FENCE_MS = 10_000;
const DEFAULT_HOLDING_TIMEOUT_MS = 6 * 3600_000;

/**
 * The lock token names the job's queue (autocluster and site), so heartbeats, complete and release
 * find the queue with no lookup; a forged token names a queue where the lock does not match.
 */
export function makeLockToken(site: string, autocluster: string): string {
  return `${autocluster}.${randomHex(12)}.${site}`;
}

export function parseLockToken(token: string): { site: string; autocluster: string } | undefined {
  const a = token.indexOf(".");
  const b = a < 0 ? -1 : token.indexOf(".", a + 1);
  if (a < 0 || b < 0) return undefined;
  const autocluster = token.slice(0, a);
  const site = token.slice(b + 1);
  if (!AUTOCLUSTER_ID_RE.test(autocluster) || !/^[A-Za-z0-9_.-]{1,64}$/.test(site)) return undefined;
  return { site, autocluster };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class DispatchQueues {
  private readonly bull: Redis;
  private readonly redis: Redis;
  private readonly names: WireNames;
  private readonly jobs: JobStore;
  private readonly queues = new Map<string, Queue>();
  private readonly workers = new Map<string, Worker>();
  private readonly checkStarts = new Map<Worker, NodeJS.Timeout>();
  private stalledTimer: NodeJS.Timeout | undefined;
  private onStalledOutcome: ((jobId: string, outcome: StallOutcome) => void) | undefined;
  private closed = false;

  constructor(private readonly opts: DispatchQueuesOptions) {
    this.bull = opts.connection;
    this.redis = opts.redis ?? opts.connection;
    this.names = opts.names;
    this.jobs = new JobStore(this.redis, opts.names);
  }

  // ---- keys -------------------------------------------------------------------------------------

  private get sitesKey(): string {
    return this.names.redisKey("dispatch", "sites");
  }
  private indexKey(site: string): string {
    return this.names.redisKey("dispatch", "site", site, "autoclusters");
  }
  private get waitingKey(): string {
    return this.names.redisKey("dispatch", "waiting");
  }
  private fenceKey(jobId: string): string {
    return this.names.redisKey("dispatch", "fence", jobId);
  }

  private queue(site: string, autocluster: string): Queue {
    const name = this.names.siteQueue(site, autocluster);
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.bull, prefix: this.names.bullPrefix, skipVersionCheck: true });
      q.on("error", (e) => this.opts.onError?.(e, `queue ${name}`));
      this.queues.set(name, q);
    }
    return q;
  }

  /**
   * Claims go through a manual-fetch Worker: `getNextJob(token, { block: false })` runs BullMQ's
   * moveToActive script, which pops the next job (retries first, then by priority) and sets its
   * lock in one Lua step — two matchmakers can never take the same job, and the lock is what the
   * stalled-job check looks at. One Worker per queue (it also runs that queue's stalled check).
   */
  private worker(site: string, autocluster: string): Worker {
    const name = this.names.siteQueue(site, autocluster);
    let w = this.workers.get(name);
    if (!w) {
      w = new Worker(name, null, {
        connection: this.bull,
        prefix: this.names.bullPrefix,
        autorun: false,
        lockDuration: this.opts.lockMs,
        stalledInterval: this.opts.stalledIntervalMs,
        maxStalledCount: this.opts.maxStalledCount ?? 1000,
        skipVersionCheck: true,
      });
      w.on("error", (e) => this.opts.onError?.(e, `worker ${name}`));
      w.on("stalled", (jobId: string) => {
        this.recoverStalled(site, autocluster, jobId).then(
          (outcome) => this.onStalledOutcome?.(jobId, outcome),
          (e: unknown) => this.opts.onError?.(e instanceof Error ? e : new Error(String(e)), `stalled job ${jobId}`),
        );
      });
      this.workers.set(name, w);
      if (this.stalledTimer) this.startCheck(w);
    }
    return w;
  }

  private handle(site: string, autocluster: string, jobId: string): Job {
    return new Job(this.queue(site, autocluster), BULL_JOB_NAME, {}, JOB_OPTS, jobId);
  }

  // ---- intake side ------------------------------------------------------------------------------

  /**
   * Puts jobs on their site's autocluster queues (bulk, one MULTI per queue) and records each new
   * autocluster in the site's index before its jobs appear, so no matchmaker can miss a queue.
   * A job id already queued is not queued twice (BullMQ keeps job ids unique per queue).
   */
  async enqueue(specs: readonly JobSpec[]): Promise<void> {
    const groups = new Map<string, { site: string; ac: string; key: AutoclusterKey; specs: JobSpec[] }>();
    for (const spec of specs) {
      const key = autoclusterKey(spec);
      const ac = autoclusterId(key);
      const g = groups.get(`${spec.site}\n${ac}`);
      if (g) g.specs.push(spec);
      else groups.set(`${spec.site}\n${ac}`, { site: spec.site, ac, key, specs: [spec] });
    }
    const index = this.redis.pipeline();
    for (const g of groups.values()) {
      index.sadd(this.sitesKey, g.site);
      index.hset(this.indexKey(g.site), g.ac, JSON.stringify(g.key));
    }
    await index.exec();
    for (const g of groups.values()) {
      const q = this.queue(g.site, g.ac);
      for (let i = 0; i < g.specs.length; i += 2000) {
        const chunk = g.specs.slice(i, i + 2000);
        await q.addBulk(chunk.map((s) => ({ name: BULL_JOB_NAME, data: { taskId: s.taskId, userDn: s.userDn, attempt: s.attempt } satisfies QueueEntry, opts: { ...JOB_OPTS, jobId: s.jobId, priority: bullPriority(s.priority) } })));
        await this.redis.hincrby(this.waitingKey, g.site, chunk.length);
      }
      // A stalled check must watch every queue that may hold a claim.
      if (this.stalledTimer) this.worker(g.site, g.ac);
    }
  }

  /** Cancel while queued: true if the job was waiting and is gone; false if claimed or unknown. */
  async remove(jobId: string): Promise<boolean> {
    const job = await this.jobs.getJob(jobId);
    if (!job) return false;
    const site = job.site || job.spec.site;
    const q = this.queue(site, autoclusterId(autoclusterKey(job.spec)));
    // BullMQ's remove answers 1 for an id it does not hold; only a waiting job counts as removed.
    // A claim between the two calls holds the lock, and remove then refuses (0).
    const state = await q.getJobState(jobId);
    if (state !== "waiting" && state !== "prioritized" && state !== "delayed") return false;
    if ((await q.remove(jobId)) !== 1) return false;
    await this.redis.hincrby(this.waitingKey, site, -1);
    return true;
  }

  /** Jobs waiting at a site (all its autoclusters). Kept as a counter; `recountWaiting` repairs drift. */
  async waitingCount(site: string): Promise<number> {
    return Math.max(0, Number((await this.redis.hget(this.waitingKey, site)) ?? 0));
  }

  /** Every site's waiting counter at once (factory and monitor). */
  async waitingCounts(): Promise<Record<string, number>> {
    const h = await this.redis.hgetall(this.waitingKey);
    return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Math.max(0, Number(v))]));
  }

  /** Recomputes a site's counter from the queues themselves (a crash between two steps can skew it). */
  async recountWaiting(site: string): Promise<number> {
    let n = 0;
    for (const ac of Object.keys(await this.autoclusters(site))) n += await this.queueWaiting(site, ac);
    await this.redis.hset(this.waitingKey, site, String(n));
    return n;
  }

  async queueWaiting(site: string, autocluster: string): Promise<number> {
    return this.queue(site, autocluster).getJobCountByTypes("wait", "prioritized", "paused");
  }

  /** Moves a site's waiting counter by `by` (the reconciler's repair, a delta for the same reason as its counts). */
  async adjustWaiting(site: string, by: number): Promise<void> {
    if (by !== 0) await this.redis.hincrby(this.waitingKey, site, by);
  }

  /** Ids of the entries waiting in one queue (not claimed): the reconciler compares them with the records. */
  async waitingIds(site: string, autocluster: string): Promise<string[]> {
    return this.queue(site, autocluster).getRanges(["wait", "prioritized", "delayed", "paused"], 0, -1);
  }

  /** Where a job's entry is in its queue (BullMQ's name: waiting, prioritized, active, ..., unknown = none). */
  async entryState(spec: JobSpec): Promise<string> {
    return this.queue(spec.site, autoclusterId(autoclusterKey(spec))).getJobState(spec.jobId);
  }

  /**
   * Puts back the entry of a job the store says is waiting but whose queue lost it. The site index
   * is written first, as at intake; BullMQ keeps job ids unique, so a racing enqueue adds no second.
   */
  async restoreEntry(spec: JobSpec): Promise<void> {
    const key = autoclusterKey(spec);
    const ac = autoclusterId(key);
    await this.redis.pipeline().sadd(this.sitesKey, spec.site).hset(this.indexKey(spec.site), ac, JSON.stringify(key)).exec();
    await this.queue(spec.site, ac).add(BULL_JOB_NAME, { taskId: spec.taskId, userDn: spec.userDn, attempt: spec.attempt } satisfies QueueEntry, { ...JOB_OPTS, jobId: spec.jobId, priority: bullPriority(spec.priority) });
  }

  /** Drops a waiting entry that must not run; false when it is claimed (locked) or gone meanwhile. */
  async dropWaiting(site: string, autocluster: string, jobId: string): Promise<boolean> {
    const q = this.queue(site, autocluster);
    const state = await q.getJobState(jobId);
    if (state !== "waiting" && state !== "prioritized" && state !== "delayed") return false;
    return (await q.remove(jobId)) === 1;
  }

  async sites(): Promise<string[]> {
    return this.redis.smembers(this.sitesKey);
  }

  /** The site's autocluster index: id → the attributes its jobs share. */
  async autoclusters(site: string): Promise<Record<string, AutoclusterKey>> {
    const h = await this.redis.hgetall(this.indexKey(site));
    return Object.fromEntries(Object.entries(h).map(([ac, json]) => [ac, JSON.parse(json) as AutoclusterKey]));
  }

  // ---- matchmaker side --------------------------------------------------------------------------

  /**
   * Takes the next job of one queue for `pilotId` and moves it `activated → sent`. Jobs that must
   * not run (cancelled meanwhile, out of attempts, no record) are dropped from the queue and the
   * next one is tried. Undefined when the queue is empty.
   *
   * `withClaim` is asked, once a job is off the queue, for writes that must exist exactly when the
   * claim stands (the matchmaker's one-time key): they go into the same atomic step as the state
   * change, with the site's waiting counter, so a match costs one round trip after BullMQ's. Its
   * `value` comes back with the claim.
   */
  async claim(site: string, autocluster: string, pilotId: string): Promise<ClaimedJob | undefined>;
  async claim<T>(site: string, autocluster: string, pilotId: string, withClaim: (job: ClaimTarget) => ClaimWrites<T>): Promise<(ClaimedJob & { readonly extra: T }) | undefined>;
  async claim<T>(site: string, autocluster: string, pilotId: string, withClaim?: (job: ClaimTarget) => ClaimWrites<T>): Promise<(ClaimedJob & { readonly extra?: T }) | undefined> {
    const w = this.worker(site, autocluster);
    for (;;) {
      const token = makeLockToken(site, autocluster);
      const job = (await w.getNextJob(token, { block: false })) as Job<QueueEntry> | undefined;
      if (!job?.id) return undefined;
      const target: ClaimTarget = { jobId: job.id, taskId: job.data.taskId, userDn: job.data.userDn, attempt: job.data.attempt };
      let prepared: ClaimWrites<T> | undefined;
      try {
        prepared = withClaim?.(target);
      } catch (e) {
        // Nothing was written yet: the job goes back to the head of its queue as it was.
        await this.handle(site, autocluster, job.id).moveToWait(token);
        throw e;
      }
      const counted: SideWrites = { set: prepared?.writes.set, hincrby: [...(prepared?.writes.hincrby ?? []), { key: this.waitingKey, field: site, by: -1 }] };
      const moved = await this.jobs.transition(job.id, "sent", ["activated"], { pilotId, leaseToken: token }, Date.now(), target.taskId, counted);
      if (moved.moved && moved.spec) {
        // The attempt and the spec are the JobStore's, returned by the step that claimed the job.
        const attempt = moved.attempt;
        return { spec: { ...moved.spec, attempt }, lockToken: token, site, autocluster, attempt, ...(prepared && { extra: prepared.value }) };
      }
      // Off the queue without a claim standing yet: the counter moves all the same.
      void this.redis.hincrby(this.waitingKey, site, -1).catch((e: Error) => this.opts.onError?.(e, "waiting counter"));
      const claimed = await this.claimAfterMissedStall(job, token, pilotId, moved.from, prepared?.writes);
      if (claimed) return { spec: { ...claimed.spec, attempt: claimed.attempt }, lockToken: token, site, autocluster, attempt: claimed.attempt, ...(prepared && { extra: prepared.value }) };
    }
  }

  /**
   * The JobStore did not say `activated`. Either the job's previous pilot went silent and the
   * stalled check put it back before the recovery bookkeeping ran (do that bookkeeping here, under
   * the job's fence so the recovery handler and this claim never both count it), or the job must
   * not run. Returns the attempt number when the claim stands, undefined when the job was dropped.
   */
  private async claimAfterMissedStall(job: Job<QueueEntry>, token: string, pilotId: string, from: JobState | undefined, side?: SideWrites): Promise<{ attempt: number; spec: JobSpec } | undefined> {
    const jobId = job.id as string;
    if (from === undefined || !LIVE_STATES.includes(from)) {
      await this.finishClaim(job, token);
      return undefined;
    }
    const fence = await this.acquireFence(jobId, true);
    try {
      const rec = await this.jobs.getJob(jobId);
      if (rec?.state === "activated") {
        const moved = await this.jobs.transition(jobId, "sent", ["activated"], { pilotId, leaseToken: token }, Date.now(), rec.taskId, side);
        if (moved.moved && moved.spec) return { attempt: moved.attempt, spec: moved.spec };
      } else if (rec && LIVE_STATES.includes(rec.state)) {
        if (rec.attempt >= rec.spec.maxAttempts) {
          await this.failLost(jobId, [rec.state], rec.attempt);
        } else {
          const moved = await this.jobs.transition(jobId, "sent", [rec.state], { pilotId, leaseToken: token, attempt: rec.attempt + 1, errorCode: ERR.PILOT_LOST_HEARTBEAT, errorMessage: `the pilot of attempt ${rec.attempt} stopped heartbeating` }, Date.now(), rec.taskId, side);
          if (moved.moved && moved.spec) return { attempt: moved.attempt, spec: moved.spec };
        }
      }
      await this.finishClaim(job, token);
      return undefined;
    } finally {
      if (fence) await this.redis.del(this.fenceKey(jobId));
    }
  }

  private async failLost(jobId: string, from: JobState[], attempt: number): Promise<void> {
    await this.jobs.transition(jobId, "failed", from, {
      leaseToken: "",
      errorCode: ERR.PILOT_LOST_HEARTBEAT,
      errorMessage: `the pilot stopped heartbeating on attempt ${attempt}, the job's last allowed attempt`,
      pilotId: "",
    });
  }

  private async acquireFence(jobId: string, wait: boolean): Promise<boolean> {
    const deadline = Date.now() + 2000;
    for (;;) {
      if ((await this.redis.set(this.fenceKey(jobId), "1", "PX", FENCE_MS, "NX")) === "OK") return true;
      if (!wait || Date.now() > deadline) return false;
      await sleep(10);
    }
  }

  private async finishClaim(job: Job, token: string): Promise<void> {
    try {
      await job.moveToCompleted("dropped", token, false);
    } catch (e) {
      this.opts.onError?.(e as Error, `dropping job ${job.id ?? "?"}`);
    }
  }

  /**
   * Gives a claimed job back (the matchmaker could not deliver it): `sent → activated` and back at
   * the head of its queue, its attempt unchanged.
   */
  async unclaim(claimed: ClaimedJob): Promise<void> {
    await this.jobs.transition(claimed.spec.jobId, "activated", ["sent"], { pilotId: "", leaseToken: "" });
    await this.handle(claimed.site, claimed.autocluster, claimed.spec.jobId).moveToWait(claimed.lockToken);
    await this.redis.hincrby(this.waitingKey, claimed.site, 1);
  }

  /** Heartbeat: pushes the lock out by `ms`. False when the token does not hold the lock any more. */
  async extendLock(jobId: string, lockToken: string, ms: number): Promise<boolean> {
    const q = parseLockToken(lockToken);
    if (!q) return false;
    return (await this.handle(q.site, q.autocluster, jobId).extendLock(lockToken, ms)) === 1;
  }

  /** The job is done with (finished): its BullMQ entry goes. False when the lock is not ours. */
  async complete(jobId: string, lockToken: string): Promise<boolean> {
    return this.dropLocked(jobId, lockToken);
  }

  /**
   * Drops the claim of a job that failed or is being retried; the job-state agent then calls
   * `enqueue([nextSpec])` for a retry. False when the lock is not ours (e.g. already requeued).
   */
  async release(jobId: string, lockToken: string): Promise<boolean> {
    return this.dropLocked(jobId, lockToken);
  }

  private async dropLocked(jobId: string, lockToken: string): Promise<boolean> {
    const q = parseLockToken(lockToken);
    if (!q) return false;
    try {
      // removeOnComplete: the record of the outcome lives in the JobStore, the queue entry can go.
      await this.handle(q.site, q.autocluster, jobId).moveToCompleted("done", lockToken, false);
      return true;
    } catch {
      return false;
    }
  }

  // ---- stalled-job recovery ---------------------------------------------------------------------

  /**
   * Runs BullMQ's stalled-job check on every queue in every site's index, now and as new queues
   * appear. Several matchmakers may all run it: BullMQ lets one check per queue per interval through.
   */
  async startStalledChecks(onOutcome?: (jobId: string, outcome: StallOutcome) => void): Promise<void> {
    if (this.stalledTimer || this.closed) return;
    this.onStalledOutcome = onOutcome;
    const scan = async (): Promise<void> => {
      for (const site of await this.sites()) {
        for (const ac of Object.keys(await this.autoclusters(site))) this.worker(site, ac);
      }
      for (const w of this.workers.values()) this.startCheck(w);
    };
    this.stalledTimer = setInterval(() => {
      scan().catch((e: Error) => this.opts.onError?.(e, "stalled-check scan"));
      this.jobs.failOverdueHolding(this.opts.holdingTimeoutMs ?? DEFAULT_HOLDING_TIMEOUT_MS).then(
        (ids) => ids.forEach((id) => this.onStalledOutcome?.(id, "failed")),
        (e: Error) => this.opts.onError?.(e, "holding-timeout sweep"),
      );
    }, Math.max(500, this.opts.stalledIntervalMs));
    this.stalledTimer.unref();
    await scan();
  }

  /**
   * Starts a queue's stalled check after a random part of one interval. Started together, the
   * checks of a hundred queues hit Redis as one burst every interval, and every advert waiting
   * behind that burst paid for it; spread out, the recovery bound (lockMs + 2 intervals) is unchanged.
   */
  private startCheck(w: Worker): void {
    if (this.checkStarts.has(w)) return;
    const t = setTimeout(() => {
      if (!this.closed) void w.startStalledCheckTimer();
    }, Math.random() * this.opts.stalledIntervalMs);
    t.unref();
    this.checkStarts.set(w, t);
  }

  /**
   * BullMQ moved `jobId` back to its queue because its lock ran out. Counts the lost attempt in the
   * JobStore (`→ activated`, attempt+1), or fails the job for good after its last allowed attempt.
   * Holds the job's fence so a claim racing on the same job does the bookkeeping at most once.
   */
  private async recoverStalled(site: string, autocluster: string, jobId: string): Promise<StallOutcome> {
    if (!(await this.acquireFence(jobId, false))) return "skipped";
    try {
      const q = this.queue(site, autocluster);
      const state = await q.getJobState(jobId);
      if (state !== "waiting" && state !== "prioritized") return "skipped";
      const rec = await this.jobs.getJob(jobId);
      if (rec?.state === "activated") {
        // Already given back (a retry recorded before its old claim was released): it waits as it should.
        await this.redis.hincrby(this.waitingKey, site, 1);
        return "skipped";
      }
      if (!rec || !LIVE_STATES.includes(rec.state)) {
        // Final, or holding (payload ended, report in flight), while its lock ran out: it must not
        // run again. A holding job waits for its report or the holding timeout.
        if ((await q.remove(jobId)) === 1) return "dropped";
        return "skipped";
      }
      if (rec.attempt >= rec.spec.maxAttempts) {
        if ((await q.remove(jobId)) !== 1) return "skipped";
        await this.failLost(jobId, [...LIVE_STATES], rec.attempt);
        return "failed";
      }
      const moved = await this.jobs.transition(jobId, "activated", [...LIVE_STATES], { attempt: rec.attempt + 1, pilotId: "", leaseToken: "", errorCode: ERR.PILOT_LOST_HEARTBEAT, errorMessage: `the pilot of attempt ${rec.attempt} stopped heartbeating` });
      if (!moved.moved) return "skipped";
      await this.redis.hincrby(this.waitingKey, site, 1);
      return "requeued";
    } finally {
      await this.redis.del(this.fenceKey(jobId));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.stalledTimer) clearInterval(this.stalledTimer);
    for (const t of this.checkStarts.values()) clearTimeout(t);
    this.checkStarts.clear();
    await Promise.all([...this.workers.values()].map((w) => w.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.workers.clear();
    this.queues.clear();
  }
}
