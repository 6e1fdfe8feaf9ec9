// The job and task records, the one truth of a job: the intake writes them, the matchmaker and the
// job-state agent move jobs through the life cycle (lifecycle.ts), the monitor and `wms task status`
// read them. BullMQ holds the *queues* (job ids); this store holds the *records* (state, site,
// attempt, lease token, errors), so a job's history survives its queue entry.
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { ERR, type JobSpec, type WireNames } from "../schemas/index.ts";
import { JOB_STATES, REOPENABLE, REPORTING_STATES, canMove, type JobState, type TaskStatus } from "./lifecycle.ts";
import { jobScript } from "./job-scripts.ts";

export interface TaskRecord {
  taskId: string;
  taskName: string;
  kind: "production" | "analysis";
  vo: string;
  group: string;
  ownerDn: string;
  priority: number;
  status: TaskStatus;
  njobs: number;
  maxAttempts: number;
  outputDataset: string;
  createdAt: number;
  updatedAt: number;
}

export interface JobRecord {
  jobId: string;
  taskId: string;
  spec: JobSpec;
  state: JobState;
  site: string;
  /** Stored, never derived: a requeue after a lost pilot or a retry makes a new attempt. */
  attempt: number;
  pilotId?: string;
  /** The lease token of the current attempt's claim; empty while the job waits in its queue. */
  leaseToken?: string;
  errorCode?: number;
  errorMessage?: string;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  endedAt?: number;
  wallSec?: number;
  /** Attempts the batch system preempted (PILOT_PREEMPTED): requeued without spending the retry budget. */
  preemptions?: number;
}

export interface NewJob {
  spec: JobSpec;
  /** `activated` when brokered to a site; `failed` when no site holds its data. */
  state: "activated" | "failed";
  errorCode?: number;
  errorMessage?: string;
}

/**
 * Writes made in the same atomic step as a transition, and only if the job moved: the matchmaker's
 * one-time key exists exactly when its claim stands, and its waiting counter moves with the state.
 */
export interface SideWrites {
  readonly set?: ReadonlyArray<{ readonly key: string; readonly value: string; readonly pxMs: number }>;
  readonly hincrby?: ReadonlyArray<{ readonly key: string; readonly field: string; readonly by: number }>;
}

/** Fields a transition may set besides the state. */
export interface JobPatch {
  site?: string;
  attempt?: number;
  pilotId?: string;
  leaseToken?: string;
  errorCode?: number;
  errorMessage?: string;
  startedAt?: number;
  endedAt?: number;
  wallSec?: number;
  preemptions?: number;
  spec?: JobSpec;
}

/** What a pilot's update names: its attempt and the lease token of its claim. */
export interface Fence {
  readonly attempt: number;
  readonly leaseToken: string;
  /** The pilot the update comes from; when given, it must be the one the claim went to. */
  readonly pilotId?: string;
}

/** One ended attempt of a job, as `wms task status` shows it. */
export interface AttemptRecord {
  readonly attempt: number;
  readonly site: string;
  readonly pilotId: string;
  readonly leaseToken: string;
  /** The state the attempt was in when it ended. */
  readonly state: JobState;
  /** `reported`: its pilot's own report ended it; `lost`: lease expiry requeued it. */
  readonly ended: "reported" | "lost";
  readonly errorCode: string;
  readonly message: string;
  readonly at: number;
}

/** What a transition did: moved, or not allowed from the state it found, or refused as stale. */
export interface TransitionResult {
  readonly moved: boolean;
  /** The update's fence named an earlier attempt or a lease token that no longer holds the job. */
  readonly stale: boolean;
  readonly from: JobState | undefined;
  /** The job's attempt after the step (the claim's attempt when it was a claim). */
  readonly attempt: number;
  /** A claim (`→ sent`) reads the job's spec from the record in the same step. */
  readonly spec?: JobSpec;
}

type Hash = Record<string, string>;

const transitionScript = jobScript("transition-7", { batched: true });
const fenceScript = jobScript("fence-3", { batched: true });

function num(v: string | undefined): number | undefined {
  return v === undefined || v === "" ? undefined : Number(v);
}

export class JobStore {
  constructor(
    private readonly redis: Redis,
    private readonly names: WireNames,
  ) {}

  private taskKey(taskId: string): string {
    return this.names.redisKey("task", taskId);
  }
  private jobKey(jobId: string): string {
    return this.names.redisKey("job", jobId);
  }
  private taskStatesKey(taskId: string): string {
    return this.names.redisKey("task", taskId, "states");
  }
  private taskErrorsKey(taskId: string): string {
    return this.names.redisKey("task", taskId, "errors");
  }
  private get globalErrorsKey(): string {
    return this.names.redisKey("errors");
  }
  private attemptsKey(jobId: string): string {
    return this.names.redisKey("job", jobId, "attempts");
  }
  private get holdingKey(): string {
    return this.names.redisKey("jobs", "holding");
  }
  private get tasksIndexKey(): string {
    return this.names.redisKey("tasks");
  }
  siteStatesKey(site: string): string {
    return this.names.redisKey("site", site, "states");
  }
  private taskJobsKey(taskId: string): string {
    return this.names.redisKey("task", taskId, "jobs");
  }
  /** One key per (owner, name); the owner's DN is hashed so the key stays short and free of separators. */
  private taskNameKey(ownerDn: string, taskName: string): string {
    return this.names.redisKey("task-name", createHash("sha256").update(ownerDn).digest("hex").slice(0, 32), taskName);
  }
  private get producersKey(): string {
    return this.names.redisKey("dataset-producers");
  }

  /**
   * Takes the name `taskName` for `ownerDn`'s task `taskId` unless another task of that owner holds
   * it (SET NX, so two intakes racing on the same name accept one): returns the holder's id, or
   * undefined when the name is now `taskId`'s. `allowDuplicate` accepts a taken name and points it
   * at the newest task.
   */
  async claimTaskName(ownerDn: string, taskName: string, taskId: string, allowDuplicate = false): Promise<string | undefined> {
    const key = this.taskNameKey(ownerDn, taskName);
    if (allowDuplicate) {
      await this.redis.set(key, taskId);
      return undefined;
    }
    if ((await this.redis.set(key, taskId, "NX")) === "OK") return undefined;
    return (await this.redis.get(key)) ?? undefined;
  }

  /** Gives the name back (the task it was taken for could not be recorded). */
  async releaseTaskName(ownerDn: string, taskName: string, taskId: string): Promise<void> {
    const key = this.taskNameKey(ownerDn, taskName);
    if ((await this.redis.get(key)) === taskId) await this.redis.del(key);
  }

  /** The task whose jobs write `dataset` (the newest, when several did), or undefined for a dataset no task produces. */
  async producerOf(dataset: string): Promise<string | undefined> {
    return (await this.redis.hget(this.producersKey, dataset)) ?? undefined;
  }

  /** Writes the task and all its jobs in pipelined batches (a 10,000-job task is one round trip per 1,000 jobs). */
  async createTask(task: Omit<TaskRecord, "status" | "njobs" | "createdAt" | "updatedAt">, jobs: readonly NewJob[], now = Date.now()): Promise<TaskRecord> {
    const record: TaskRecord = { ...task, status: "active", njobs: jobs.length, createdAt: now, updatedAt: now };
    const states: Record<string, number> = {};
    const errors: Record<string, number> = {};
    const siteStates = new Map<string, number>();
    // Pipelines of 1,000 jobs, sent together: Redis applies them in order on one connection, and
    // the client does not wait a round trip per chunk.
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < jobs.length; i += 1000) {
      const p = this.redis.pipeline();
      for (const j of jobs.slice(i, i + 1000)) {
        const h: Hash = {
          jobId: j.spec.jobId,
          taskId: j.spec.taskId,
          spec: JSON.stringify(j.spec),
          state: j.state,
          site: j.state === "activated" ? j.spec.site : "",
          attempt: String(j.spec.attempt),
          createdAt: String(now),
          updatedAt: String(now),
        };
        if (j.errorCode !== undefined) h.errorCode = String(j.errorCode);
        if (j.errorMessage !== undefined) h.errorMessage = j.errorMessage;
        p.hset(this.jobKey(j.spec.jobId), h);
        states[j.state] = (states[j.state] ?? 0) + 1;
        if (j.state === "failed" && j.errorCode !== undefined) errors[j.errorCode] = (errors[j.errorCode] ?? 0) + 1;
        if (j.state === "activated") siteStates.set(j.spec.site, (siteStates.get(j.spec.site) ?? 0) + 1);
      }
      p.rpush(this.taskJobsKey(task.taskId), ...jobs.slice(i, i + 1000).map((j) => j.spec.jobId));
      pending.push(p.exec());
    }
    await Promise.all(pending);
    const p = this.redis.pipeline();
    for (const [state, n] of Object.entries(states)) p.hincrby(this.taskStatesKey(task.taskId), state, n);
    for (const [code, n] of Object.entries(errors)) {
      p.hincrby(this.taskErrorsKey(task.taskId), code, n);
      p.hincrby(this.globalErrorsKey, code, n);
    }
    for (const [site, n] of siteStates) p.hincrby(this.siteStatesKey(site), "activated", n);
    const allFailed = jobs.length > 0 && (states.failed ?? 0) === jobs.length;
    if (allFailed) record.status = "broken";
    p.hset(this.taskKey(task.taskId), this.serializeTask(record));
    p.zadd(this.tasksIndexKey, now, task.taskId);
    p.hset(this.producersKey, task.outputDataset, task.taskId);
    await p.exec();
    return record;
  }

  private serializeTask(t: TaskRecord): Hash {
    return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, String(v)]));
  }

  async getTask(taskId: string): Promise<TaskRecord | undefined> {
    const h = await this.redis.hgetall(this.taskKey(taskId));
    if (!h.taskId) return undefined;
    return {
      taskId: h.taskId,
      taskName: h.taskName,
      kind: h.kind as TaskRecord["kind"],
      vo: h.vo,
      group: h.group,
      ownerDn: h.ownerDn,
      priority: Number(h.priority),
      status: h.status as TaskStatus,
      njobs: Number(h.njobs),
      maxAttempts: Number(h.maxAttempts),
      outputDataset: h.outputDataset,
      createdAt: Number(h.createdAt),
      updatedAt: Number(h.updatedAt),
    };
  }

  /** Newest first. */
  async listTasks(opts: { offset?: number; limit?: number } = {}): Promise<TaskRecord[]> {
    const offset = opts.offset ?? 0;
    const ids = await this.redis.zrevrange(this.tasksIndexKey, offset, offset + (opts.limit ?? 100) - 1);
    const tasks = await Promise.all(ids.map((id) => this.getTask(id)));
    return tasks.filter((t): t is TaskRecord => t !== undefined);
  }

  async setTaskStatus(taskId: string, status: TaskStatus, now = Date.now()): Promise<void> {
    await this.redis.hset(this.taskKey(taskId), "status", status, "updatedAt", String(now));
  }

  async taskCounts(taskId: string): Promise<Record<JobState, number>> {
    const h = await this.redis.hgetall(this.taskStatesKey(taskId));
    return Object.fromEntries(JOB_STATES.map((s) => [s, Number(h[s] ?? 0)])) as Record<JobState, number>;
  }

  async siteCounts(site: string): Promise<Record<JobState, number>> {
    const h = await this.redis.hgetall(this.siteStatesKey(site));
    return Object.fromEntries(JOB_STATES.map((s) => [s, Number(h[s] ?? 0)])) as Record<JobState, number>;
  }

  async taskErrors(taskId: string): Promise<Record<string, number>> {
    return Object.fromEntries(Object.entries(await this.redis.hgetall(this.taskErrorsKey(taskId))).map(([k, v]) => [k, Number(v)]));
  }

  /** Failure codes across all tasks of this namespace. */
  async errorCounts(): Promise<Record<string, number>> {
    return Object.fromEntries(Object.entries(await this.redis.hgetall(this.globalErrorsKey)).map(([k, v]) => [k, Number(v)]));
  }

  private parseJob(h: Hash): JobRecord | undefined {
    if (!h.jobId) return undefined;
    return {
      jobId: h.jobId,
      taskId: h.taskId,
      spec: JSON.parse(h.spec) as JobSpec,
      state: h.state as JobState,
      site: h.site ?? "",
      attempt: Number(h.attempt ?? 1),
      pilotId: h.pilotId || undefined,
      leaseToken: h.leaseToken || undefined,
      errorCode: num(h.errorCode),
      errorMessage: h.errorMessage || undefined,
      createdAt: Number(h.createdAt),
      updatedAt: Number(h.updatedAt),
      startedAt: num(h.startedAt),
      endedAt: num(h.endedAt),
      wallSec: num(h.wallSec),
      preemptions: num(h.preemptions),
    };
  }

  /** State and holder only: a heartbeat asks this of every running job, and the spec's JSON is most of a record. */
  async getHolder(jobId: string): Promise<{ state: JobState; pilotId: string } | undefined> {
    const [state, pilotId] = await this.redis.hmget(this.jobKey(jobId), "state", "pilotId");
    return state ? { state: state as JobState, pilotId: pilotId ?? "" } : undefined;
  }

  async getJob(jobId: string): Promise<JobRecord | undefined> {
    return this.parseJob(await this.redis.hgetall(this.jobKey(jobId)));
  }

  async jobIds(taskId: string, offset = 0, limit = -1): Promise<string[]> {
    return this.redis.lrange(this.taskJobsKey(taskId), offset, limit < 0 ? -1 : offset + limit - 1);
  }

  async listJobs(taskId: string, opts: { state?: JobState; offset?: number; limit?: number } = {}): Promise<JobRecord[]> {
    const ids = await this.jobIds(taskId, opts.state ? 0 : opts.offset ?? 0, opts.state ? -1 : opts.limit ?? -1);
    const out: JobRecord[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const p = this.redis.pipeline();
      for (const id of ids.slice(i, i + 500)) p.hgetall(this.jobKey(id));
      const res = (await p.exec()) ?? [];
      for (const [, h] of res) {
        const j = this.parseJob(h as Hash);
        if (j && (!opts.state || j.state === opts.state)) out.push(j);
      }
    }
    if (opts.state) return out.slice(opts.offset ?? 0, opts.limit === undefined ? undefined : (opts.offset ?? 0) + opts.limit);
    return out;
  }

  /**
   * Moves a job to `to` only if its current state is one of `from` (each a move lifecycle.ts allows)
   * and, when `fence` is given (an update from a pilot), only if it names the job's current attempt
   * and lease token; a stale update is refused and counted under JOB_STALE_UPDATE.
   */
  async transition(jobId: string, to: JobState, from: readonly JobState[], patch: JobPatch = {}, now = Date.now(), taskId?: string, side?: SideWrites, fence?: Fence): Promise<TransitionResult> {
    const illegal = from.filter((s) => !canMove(s, to));
    if (illegal.length > 0) throw new Error(`the life cycle has no move ${illegal.join("/")} -> ${to}`);
    return this.move(jobId, to, from, patch, now, taskId, side, fence);
  }

  /** An operator's retry: a `failed` job back to its queue as a new attempt (lifecycle.ts REOPENABLE). */
  async reopen(jobId: string, patch: JobPatch, now = Date.now()): Promise<TransitionResult> {
    return this.move(jobId, "activated", REOPENABLE, patch, now);
  }

  private async move(jobId: string, to: JobState, from: readonly JobState[], patch: JobPatch, now: number, taskId?: string, side?: SideWrites, fence?: Fence): Promise<TransitionResult> {
    // Callers that hold the job's spec pass its taskId and save a round trip (the matchmaker's claim);
    // the script refuses a job that does not exist either way.
    const task = taskId ?? (await this.redis.hget(this.jobKey(jobId), "taskId"));
    if (!task) return { moved: false, stale: false, from: undefined, attempt: 0 };
    const sets = side?.set ?? [];
    const incrs = side?.hincrby ?? [];
    const args: string[] = [to, from.join(","), this.names.redisKey("site", ""), String(now), fence ? String(fence.attempt) : "", fence?.leaseToken ?? "", fence?.pilotId ?? "", String(ERR.JOB_STALE_UPDATE), String(sets.length), String(incrs.length)];
    const keys = [this.jobKey(jobId), this.taskKey(task), this.taskStatesKey(task), this.taskErrorsKey(task), this.globalErrorsKey, this.holdingKey, this.attemptsKey(jobId)];
    for (const w of sets) {
      keys.push(w.key);
      args.push(w.value, String(w.pxMs));
    }
    for (const w of incrs) {
      keys.push(w.key);
      args.push(w.field, String(w.by));
    }
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      args.push(k, k === "spec" ? JSON.stringify(v) : String(v));
    }
    // Site counters live at `<ns>:site:<site>:states`; the script appends the site and the suffix.
    const res = (await transitionScript.run(this.redis, keys, args)) as [number, string, string, string?];
    const moved = res[0] === 1;
    const spec = moved && res[3] ? (JSON.parse(res[3]) as JobSpec) : undefined;
    return { moved, stale: res[0] === -1, from: (res[1] || undefined) as JobState | undefined, attempt: Number(res[2] || 0), ...(spec && { spec }) };
  }

  /**
   * Checks a pilot's update that moves nothing (a heartbeat, an accounting record, a key renewal)
   * against the job's current attempt and lease token, in the same script code as transitions. A
   * stale one is counted under JOB_STALE_UPDATE.
   */
  async checkFence(jobId: string, fence: Fence, o: { endedReportedOk?: boolean } = {}): Promise<{ verdict: "current" | "ended" | "stale" | "unknown"; state: JobState | undefined }> {
    const keys = [this.jobKey(jobId), this.globalErrorsKey, this.attemptsKey(jobId)];
    const [v, state] = (await fenceScript.run(this.redis, keys, [String(fence.attempt), fence.leaseToken, fence.pilotId ?? "", String(ERR.JOB_STALE_UPDATE), o.endedReportedOk ? "1" : "0"])) as [number, string];
    const verdict = v === 1 ? "current" : v === 2 ? "ended" : v === -1 ? "stale" : "unknown";
    return { verdict, state: (state || undefined) as JobState | undefined };
  }

  /** Every task id of the namespace, oldest first (the reconciler's scan). */
  async allTaskIds(): Promise<string[]> {
    return this.redis.zrange(this.tasksIndexKey, 0, -1);
  }

  /**
   * Moves a task's or a site's state counters by `delta` (state -> n): the reconciler's repair. A
   * delta, not a SET, so transitions that ran between its count and this write are kept.
   */
  async adjustCounts(target: { readonly taskId: string } | { readonly site: string }, delta: Readonly<Record<string, number>>): Promise<void> {
    const key = "taskId" in target ? this.taskStatesKey(target.taskId) : this.siteStatesKey(target.site);
    const p = this.redis.pipeline();
    for (const [state, by] of Object.entries(delta)) if (by !== 0) p.hincrby(key, state, by);
    await p.exec();
  }

  /**
   * Moves a task's error counters (error code -> failed jobs) by `delta`: the reconciler's repair,
   * a delta for the same reason as `adjustCounts`.
   */
  async adjustErrorCounts(taskId: string, delta: Readonly<Record<string, number>>): Promise<void> {
    const p = this.redis.pipeline();
    for (const [code, by] of Object.entries(delta)) if (by !== 0) p.hincrby(this.taskErrorsKey(taskId), code, by);
    await p.exec();
  }

  /** Every ended attempt of a job, oldest first (the current one is the record itself). */
  async attempts(jobId: string): Promise<AttemptRecord[]> {
    const h = await this.redis.hgetall(this.attemptsKey(jobId));
    return Object.values(h)
      .map((v) => JSON.parse(v) as AttemptRecord)
      .sort((a, b) => a.attempt - b.attempt);
  }

  /** Jobs in holding/transferring since before `before` (ms), oldest first: the holding-timeout sweep's input. */
  async holdingSince(before: number, limit = 500): Promise<string[]> {
    return this.redis.zrangebyscore(this.holdingKey, "-inf", before, "LIMIT", 0, limit);
  }

  /**
   * Fails every job that has been holding longer than `timeoutMs` with JOB_HOLDING_TIMEOUT: its
   * payload ended but no final report came. Idempotent (guarded moves), so every matchmaker may run
   * it. Returns the jobs it failed.
   */
  async failOverdueHolding(timeoutMs: number, now = Date.now()): Promise<string[]> {
    const failed: string[] = [];
    for (const id of await this.holdingSince(now - timeoutMs)) {
      const t = await this.transition(id, "failed", REPORTING_STATES, { errorCode: ERR.JOB_HOLDING_TIMEOUT, errorMessage: `no final report within ${Math.round(timeoutMs / 1000)} s of the payload's end`, endedAt: now }, now);
      if (t.moved) failed.push(id);
      else if (!t.from || !(REPORTING_STATES as readonly JobState[]).includes(t.from)) await this.redis.zrem(this.holdingKey, id);
    }
    return failed;
  }
}
