// The job and task records every part reads: the intake writes them, the matchmaker and the
// job-state agent move jobs through PanDA's life cycle, the monitor and `wms task status` read them.
// BullMQ holds the *queues*; this store holds the *records* (state, site, attempts, errors), so a
// job's history survives its BullMQ entry being completed or removed.
import type { Redis } from "ioredis";
import type { JobSpec, WireNames } from "../schemas/index.ts";
import { batchedRedisScript } from "../platform/redis-script.ts";

export const JOB_STATES = ["defined", "activated", "sent", "starting", "running", "finished", "failed", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_STATES: readonly JobState[] = ["finished", "failed", "cancelled"];

/** running: jobs not all final; done: all finished; finished: some failed; failed: none finished; cancelled. */
export type TaskStatus = "running" | "done" | "finished" | "failed" | "cancelled";

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
  attempt: number;
  pilotId?: string;
  errorCode?: number;
  errorMessage?: string;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  endedAt?: number;
  wallSec?: number;
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
  errorCode?: number;
  errorMessage?: string;
  startedAt?: number;
  endedAt?: number;
  wallSec?: number;
  spec?: JobSpec;
}

// One script so the state change, the per-task and per-site counters, the error counters and the
// task's final status move together: two clients racing on one job can never double-count.
// KEYS: job hash, task hash, task state counts, task error counts, global error counts, then the
//       side writes' keys.
// ARGV: new state, comma list of allowed current states ("*" = any), site-counts key prefix, now,
//       number of SETs, number of HINCRBYs, their arguments, then field/value pairs to set.
const TRANSITION_LUA = `
local job = redis.call('HMGET', KEYS[1], 'state', 'site')
local cur = job[1]
if not cur then return {0, ''} end
local allowed = ARGV[2]
if allowed ~= '*' then
  local ok = false
  for s in string.gmatch(allowed, '[^,]+') do if s == cur then ok = true end end
  if not ok then return {0, cur} end
end
local new = ARGV[1]
local oldSite = job[2] or ''
local newSite = oldSite
local fields = {'state', new, 'updatedAt', ARGV[4]}
-- Side writes that must land with the move and only with it (the matchmaker's one-time key and
-- waiting counter): ARGV[5] SETs (value, px) on KEYS[6..], then ARGV[6] HINCRBYs (field, by).
local nset, nincr = tonumber(ARGV[5]), tonumber(ARGV[6])
local a, k = 7, 6
for _ = 1, nset do
  redis.call('SET', KEYS[k], ARGV[a], 'PX', ARGV[a + 1])
  k, a = k + 1, a + 2
end
for _ = 1, nincr do
  redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
  k, a = k + 1, a + 2
end
for i = a, #ARGV, 2 do
  if ARGV[i] == 'site' then newSite = ARGV[i + 1] end
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HINCRBY', KEYS[3], cur, -1)
redis.call('HINCRBY', KEYS[3], new, 1)
if oldSite ~= '' then redis.call('HINCRBY', ARGV[3] .. oldSite .. ':states', cur, -1) end
if newSite ~= '' then redis.call('HINCRBY', ARGV[3] .. newSite .. ':states', new, 1) end
if new == 'failed' then
  local code = redis.call('HGET', KEYS[1], 'errorCode')
  if code and code ~= '' then
    redis.call('HINCRBY', KEYS[4], code, 1)
    redis.call('HINCRBY', KEYS[5], code, 1)
  end
end
-- The task's status can only change when a job enters or leaves a final state; the matchmaker's
-- activated -> sent (the hot path) skips these reads.
local final = {finished = true, failed = true, cancelled = true}
if not final[new] and not final[cur] then return {1, cur} end
local t = redis.call('HMGET', KEYS[2], 'njobs', 'status')
local c = redis.call('HMGET', KEYS[3], 'finished', 'failed', 'cancelled')
local njobs = tonumber(t[1] or '0')
local status = t[2]
local fin = tonumber(c[1] or '0')
local fail = tonumber(c[2] or '0')
local canc = tonumber(c[3] or '0')
if njobs > 0 and fin + fail + canc >= njobs and status == 'running' then
  local outcome = 'done'
  if fail > 0 and fin > 0 then outcome = 'finished' elseif fin == 0 and fail > 0 then outcome = 'failed' elseif fin == 0 then outcome = 'cancelled' end
  redis.call('HSET', KEYS[2], 'status', outcome, 'updatedAt', ARGV[4])
elseif status ~= 'running' and status ~= 'cancelled' and fin + fail + canc < njobs then
  redis.call('HSET', KEYS[2], 'status', 'running', 'updatedAt', ARGV[4])
end
return {1, cur}
`;

type Hash = Record<string, string>;

const transitionScript = batchedRedisScript(TRANSITION_LUA);

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
  private get tasksIndexKey(): string {
    return this.names.redisKey("tasks");
  }
  siteStatesKey(site: string): string {
    return this.names.redisKey("site", site, "states");
  }
  private taskJobsKey(taskId: string): string {
    return this.names.redisKey("task", taskId, "jobs");
  }

  /** Writes the task and all its jobs in pipelined batches (a 10,000-job task is one round trip per 1,000 jobs). */
  async createTask(task: Omit<TaskRecord, "status" | "njobs" | "createdAt" | "updatedAt">, jobs: readonly NewJob[], now = Date.now()): Promise<TaskRecord> {
    const record: TaskRecord = { ...task, status: "running", njobs: jobs.length, createdAt: now, updatedAt: now };
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
    if (allFailed) record.status = "failed";
    p.hset(this.taskKey(task.taskId), this.serializeTask(record));
    p.zadd(this.tasksIndexKey, now, task.taskId);
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
      errorCode: num(h.errorCode),
      errorMessage: h.errorMessage || undefined,
      createdAt: Number(h.createdAt),
      updatedAt: Number(h.updatedAt),
      startedAt: num(h.startedAt),
      endedAt: num(h.endedAt),
      wallSec: num(h.wallSec),
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
   * Moves a job to `to` only if its current state is one of `from` (or any, with "*").
   * Returns whether it moved and the state it was in, so callers can tell a stale report from a real one.
   */
  async transition(jobId: string, to: JobState, from: readonly JobState[] | "*", patch: JobPatch = {}, now = Date.now(), taskId?: string, side?: SideWrites): Promise<{ moved: boolean; from: JobState | undefined }> {
    // Callers that hold the job's spec pass its taskId and save a round trip (the matchmaker's claim);
    // the script refuses a job that does not exist either way.
    const job = taskId ?? (await this.redis.hget(this.jobKey(jobId), "taskId"));
    if (!job) return { moved: false, from: undefined };
    const sets = side?.set ?? [];
    const incrs = side?.hincrby ?? [];
    const args: string[] = [to, from === "*" ? "*" : from.join(","), this.names.redisKey("site", ""), String(now), String(sets.length), String(incrs.length)];
    const keys = [this.jobKey(jobId), this.taskKey(job), this.taskStatesKey(job), this.taskErrorsKey(job), this.globalErrorsKey];
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
    const res = (await transitionScript.run(this.redis, keys, args)) as [number, string];
    return { moved: res[0] === 1, from: (res[1] || undefined) as JobState | undefined };
  }
}
