// The job and task records, the one truth of a job: the intake writes them, the matchmaker and the
// job-state agent move jobs through the life cycle (lifecycle.ts), the monitor and `wms task status`
// read them. The dispatch queues (dispatch-queues.ts) hold job ids; this store holds the *records*
// (state, site, attempt, lease token, errors), so a job's history survives its queue entry.
//
// A task and its jobs live in one task shard (keys.ts): a transition is one script in that slot.
// What a move means for the job's site (its state counters, holding index, error counts) is applied
// right after in the site's shard; a crash between the two leaves a site counter off, which the
// reconciler repairs from the records (the records are the truth, the site counters a summary).
import { createHash } from "node:crypto";
import { keysBySlot, type RedisClient } from "../platform/redis-client.ts";
import { ERR, type JobSpec, type WireNames } from "../schemas/index.ts";
import { reportKeySealHolds, type SealVerifier } from "../security/index.ts";
import { JOB_STATES, REOPENABLE, REPORTING_STATES, canMove, type JobState, type TaskStatus } from "./lifecycle.ts";
import { jobScript } from "./job-scripts.ts";
import { jobKeys, taskIdOf, type JobKeys } from "./keys.ts";
import { joinSpec, SpecShape } from "./spec-join.ts";
import { AUTOCLUSTER_SPEC_FIELDS, autoclusterId, autoclusterKey } from "./autocluster.ts";

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
  /**
   * The task may still get jobs: its input is another task's output, released file by file as it
   * is registered (`growTask`). It stays `active` until closed, whatever its jobs' states.
   */
  open?: boolean;
  /** Why an open task closed as it did (its producer ended, with how many files), for `wms task status`. */
  message?: string;
  /** Set when the task ended without running anything (INTAKE_INPUT_NOT_PRODUCED). */
  errorCode?: number;
}

/** What `createTask` records besides the jobs for a task that stays open for more (see `growTask`). */
export interface OpenTaskInit {
  /** The planner's own data (the intake's JSON: batch, owner, inputs), kept in the task's shard. */
  readonly plan: string;
  /** The input files the task's first jobs consume (`<dataset>\n<lfn>`). */
  readonly consumed: readonly string[];
  /**
   * A spec with every field the task's jobs share (the intake's job spec with no files): the
   * task's template is made from it, since later jobs are not known yet.
   */
  readonly prototype: JobSpec;
}

/** What `growTask` did. */
export type GrowResult =
  | { readonly outcome: "grown"; readonly njobs: number; readonly status: TaskStatus }
  /** Another planner added jobs (or took a file) since this one read the task: read it again. */
  | { readonly outcome: "conflict" }
  /** Not open any more (closed by another planner, or its owner aborted it: now closed). */
  | { readonly outcome: "closed" | "aborted" };

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
  /** The report key the claim bound to the attempt (security/report-signing.ts): its reports must be signed by it. */
  reportKey?: string;
  /** The matchmaker's seal over the job, lease token and report key (security/report-key-seal.ts). */
  reportKeySeal?: string;
  /** A report key was on the record without the matchmaker's seal over it (rewritten in Redis): `reportKey` is then left out. */
  reportKeyUnsealed?: boolean;
  errorCode?: number;
  errorMessage?: string;
  /**
   * A failed job whose code sums up its attempts (E1903 RETRY_MAX_ATTEMPTS): the code its last
   * attempt failed with (earlier attempts keep theirs in `attempts`). Goes into the attempt's history
   * entry, and off the record, when an operator's retry reopens the job.
   */
  causeCode?: number;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  endedAt?: number;
  wallSec?: number;
  /** Attempts the batch system preempted (PILOT_PREEMPTED): requeued without spending the retry budget. */
  preemptions?: number;
  /** Claims of this job whose lease ran out before any pilot confirmed them, given back without a new attempt (lifecycle.ts, MAX_UNCONFIRMED_GIVE_BACKS). */
  unconfirmed?: number;
}

/** What the reconciler counts of a job record (`tallyJobs`): a few fields, no spec. */
export interface JobTally {
  readonly jobId: string;
  readonly state: JobState;
  /** The record's site ('' until brokered). */
  readonly site: string;
  /** Where the job queues: the record's site, else its spec's. */
  readonly queueSite: string;
  readonly errorCode?: number;
  readonly updatedAt: number;
  readonly leaseToken?: string;
  /** The autocluster of its ready set, for an `activated` job. */
  readonly autocluster?: string;
}

export interface NewJob {
  spec: JobSpec;
  /** `activated` when brokered to a site; `failed` when no site holds its data. */
  state: "activated" | "failed";
  errorCode?: number;
  errorMessage?: string;
}

/**
 * Writes a claim carries (the matchmaker's one-time key): made right after the claim stands, so the
 * key never exists for a claim that did not happen (see dispatch-queues.ts on the ordering).
 */
export interface JobStoreOptions {
  /**
   * Checks the matchmaker's seal over each attempt's report key (security/report-key-seal.ts):
   * records read through this store carry a report key only when sealed. The agents' stores have it.
   */
  readonly reportKeySeals?: SealVerifier;
}

/** Fields a transition may set besides the state. */
export interface JobPatch {
  site?: string;
  attempt?: number;
  pilotId?: string;
  leaseToken?: string;
  reportKey?: string;
  reportKeySeal?: string;
  errorCode?: number;
  errorMessage?: string;
  causeCode?: number;
  startedAt?: number;
  endedAt?: number;
  wallSec?: number;
  preemptions?: number;
  unconfirmed?: number;
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
  /** The report key the claim bound to the attempt, kept when it ended ('' or absent when none). */
  readonly reportKey?: string;
  /** The state the attempt was in when it ended. */
  readonly state: JobState;
  /** `reported`: its pilot's own report ended it; `lost`: lease expiry requeued it. */
  readonly ended: "reported" | "lost";
  readonly errorCode: string;
  readonly message: string;
  readonly at: number;
}

/** What `checkFence` found for a pilot's update that moves nothing. */
export interface FenceVerdict {
  /** `current`: the job's attempt and lease token; `ended`: an ended attempt its own pilot reported (when admitted). */
  readonly verdict: "current" | "ended" | "stale" | "unknown";
  readonly state: JobState | undefined;
  /** The site the admitted attempt ran at (current or ended). */
  readonly site?: string;
  /** The report key bound to the admitted attempt (sealed, when the store checks seals). */
  readonly reportKey?: string;
  readonly reportKeyUnsealed?: true;
  /** The job's spec, read with the fence (`withSpec`). */
  readonly spec?: JobSpec;
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
  /** The job's site before and after the move ('' when not brokered). */
  readonly site?: string;
}

/** How a transition treats the job's site shard. */
export interface MoveOptions {
  /** The claim script already moved the site's counters (activated -> sent): do not count again. */
  readonly siteCounted?: boolean;
  /**
   * The lease check moves the job (its pilot went silent): the fence is the check's own guard, so a
   * refusal is not a pilot's stale update (not counted), and the attempt it ends ended `lost`.
   */
  readonly leaseCheck?: boolean;
}

type Hash = Record<string, string>;
type Template = Partial<Record<keyof JobSpec, unknown>>;

const transitionScript = jobScript("transition-6", { batched: true });
const sealBindScript = jobScript("bind-seal-1", { batched: true });

/** transition-6's reply: moved, state before, attempt after, site before and after, failure counted, spec, template. */
type MoveReply = [number, string, string, string, string, string, string?, string?];

/** A claim's record move: from `activated` only, the site's counters moved by the claim's own step. */
const CLAIMABLE: readonly JobState[] = ["activated"];
const CLAIM_MOVE: MoveOptions = { siteCounted: true };

/** transition-6's ARGV (jobs/scripts/transition-6.lua). */
function moveArgs(to: JobState, from: readonly JobState[], patch: JobPatch, now: number, want: "0" | "1" | "2", o: MoveOptions, fence?: Fence): string[] {
  const args: string[] = [];
  writeMoveArgs(args, 0, to, from, patch, now, want, o, fence);
  return args;
}

/** How many values `writeMoveArgs` writes for `patch`. */
function moveArgsLength(patch: JobPatch): number {
  let n = 8;
  for (const k in patch) if (patch[k as keyof JobPatch] !== undefined) n += 2;
  return n;
}

/**
 * transition-6's ARGV written into `out` from `at` (a claim writes them into the ARGV of its own
 * script, sized for them: growing an array by push copied it twice per match); returns where it ended.
 */
function writeMoveArgs(out: Array<string | number>, at: number, to: JobState, from: readonly JobState[], patch: JobPatch, now: number, want: "0" | "1" | "2", o: MoveOptions, fence?: Fence): number {
  out[at++] = to;
  out[at++] = from.length === 1 ? from[0] : from.join(",");
  out[at++] = String(now);
  out[at++] = fence ? String(fence.attempt) : "";
  out[at++] = fence?.leaseToken ?? "";
  out[at++] = fence?.pilotId ?? "";
  out[at++] = want;
  out[at++] = o.leaseCheck ? "1" : "0";
  for (const k in patch) {
    const v = patch[k as keyof JobPatch];
    if (v === undefined) continue;
    out[at++] = k;
    out[at++] = k === "spec" ? JSON.stringify(v) : String(v);
  }
  return at;
}
/**
 * The wall time of a record whose final report was applied before its start was known (both came
 * late, handled side by side by competing consumers): derived from the two times when both are there.
 */
function wallOf(startedAt: number | undefined, endedAt: number | undefined): number | undefined {
  return startedAt !== undefined && endedAt !== undefined ? Math.max(0, (endedAt - startedAt) / 1000) : undefined;
}

const fenceScript = jobScript("fence-2", { batched: true });
const startedScript = jobScript("started-1", { batched: true });
const effectsScript = jobScript("effects-3", { batched: true });
const growScript = jobScript("grow-5");
const tallyScript = jobScript("tally-1");

/** The spec fields that say where a job queues: its site and its autocluster's. */
const QUEUE_FIELDS: readonly string[] = ["site", ...AUTOCLUSTER_SPEC_FIELDS];
/**
 * The task hash's field that says whether a record of the task may set a queue field in its own
 * part (differing from the template, or not in it): '0' none does, '1' some may; absent (a task
 * whose hash is not written yet, or written before the flag existed) counts as '1'. Every writer
 * of a record's spec sets it before the record (createTask writes '0' or '1' after its records,
 * absent until then), so tally-1.lua, which reads it in the same step as the records, reads no
 * spec of a task whose records all queue where its template says.
 */
const OWN_QUEUE_FIELDS = "ownQueueFields";
/** The state whose ready set the tally needs to know (tally-1.lua reads its queue fields). */
const QUEUED: JobState = "activated";
/** tally-1.lua's ARGV. */
const TALLY_ARGS: readonly string[] = [QUEUED, OWN_QUEUE_FIELDS, ...QUEUE_FIELDS];

function setsQueueField(own: Template): boolean {
  for (const f of QUEUE_FIELDS) if (f in own) return true;
  return false;
}

/** Jobs written per grow step: each step is atomic, and a step's ARGV stays a few hundred KB. */
const GROW_CHUNK = 200;

/** Spec fields that differ from job to job; an open task's template (from one prototype) leaves them out. */
const PER_JOB_FIELDS: ReadonlySet<string> = new Set(["jobId", "inputFiles", "site", "seal"]);

/** An attempt history hash (attempt -> its JSON) as records, oldest first. */
function parseAttempts(h: Hash): AttemptRecord[] {
  return Object.values(h)
    .map((v) => JSON.parse(v) as AttemptRecord)
    .sort((a, b) => a.attempt - b.attempt);
}

function num(v: string | undefined): number | undefined {
  return v === undefined || v === "" ? undefined : Number(v);
}

/** Task templates kept in memory: a template never changes once written. */
const TEMPLATE_CACHE_MAX = 10_000;

/**
 * The spec fields every job of a task shares, with the same value: stored once per task. A job
 * record keeps the rest (its id, its input files, its seal, ...), which is what makes a queued job
 * lean; `{...template, ...rest}` is the spec as the intake sealed it.
 */
export function specTemplate(specs: readonly JobSpec[]): Template {
  const tpl: Template = {};
  if (specs.length === 0) return tpl;
  const first = specs[0];
  for (const k of Object.keys(first) as Array<keyof JobSpec>) {
    const v = JSON.stringify(first[k]);
    if (specs.every((s) => k in s && JSON.stringify(s[k]) === v)) tpl[k] = first[k];
  }
  return tpl;
}

function specRest(spec: JobSpec, tpl: Template): Template {
  const rest: Template = {};
  for (const k of Object.keys(spec) as Array<keyof JobSpec>) if (!(k in tpl)) rest[k] = spec[k];
  return rest;
}

/**
 * For a job added to a task after its template was written: every field the template lacks or holds
 * with another value. The record's value then wins on read (`{...tpl, ...rest}`, and JSON.parse
 * keeps the last of a repeated key in `joinSpec`), so a later job never takes a value it does not have.
 */
function specRestAgainst(spec: JobSpec, tpl: Template): Template {
  const rest: Template = {};
  for (const k of Object.keys(spec) as Array<keyof JobSpec>) if (!(k in tpl) || JSON.stringify(tpl[k]) !== JSON.stringify(spec[k])) rest[k] = spec[k];
  return rest;
}

function openTemplate(prototype: JobSpec): Template {
  const tpl: Template = {};
  for (const k of Object.keys(prototype) as Array<keyof JobSpec>) if (!PER_JOB_FIELDS.has(k)) tpl[k] = prototype[k];
  return tpl;
}

function isReporting(s: JobState): boolean {
  return (REPORTING_STATES as readonly JobState[]).includes(s);
}

interface SiteEffect {
  states: Record<string, number>;
  holding: "add" | "rem" | "";
  error: string;
}

export class JobStore {
  private readonly keys: JobKeys;
  private readonly templates = new Map<string, Template>();
  private readonly templateTexts = new Map<string, string>();
  /** Per task, how its claims build a spec from the record's own fields (spec-join.ts). */
  private readonly shapes = new Map<string, SpecShape>();
  /** transition-6's KEYS as templates, for claim-move-5.lua (made once). */
  private keyTemplates: readonly string[] | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
    private readonly o: JobStoreOptions = {},
  ) {
    this.keys = jobKeys(names);
  }

  /**
   * The report key bound to an attempt, believed only with the matchmaker's seal when this store
   * checks seals (the agents' stores): a key anyone with Redis write access put there is dropped.
   */
  private boundReportKey(jobId: string, leaseToken: string | undefined, reportKey: string | undefined, seal: string | undefined): { reportKey?: string; reportKeyUnsealed?: true } {
    if (!reportKey) return {};
    const seals = this.o.reportKeySeals;
    if (seals === undefined || reportKeySealHolds(seals, { jobId, leaseToken: leaseToken ?? "", reportKey }, seal)) return { reportKey };
    return { reportKeyUnsealed: true };
  }

  /** One key per (owner, name); the owner's DN is hashed so the key stays short and free of separators. */
  private taskNameKey(ownerDn: string, taskName: string): string {
    return this.keys.taskName(createHash("sha256").update(ownerDn).digest("hex").slice(0, 32), taskName);
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

  /** The task holding an owner's task name, if any (claimTaskName still decides, atomically). */
  async taskNameHolder(ownerDn: string, taskName: string): Promise<string | undefined> {
    return (await this.redis.get(this.taskNameKey(ownerDn, taskName))) ?? undefined;
  }

  /** Gives the name back (the task it was taken for could not be recorded). */
  async releaseTaskName(ownerDn: string, taskName: string, taskId: string): Promise<void> {
    const key = this.taskNameKey(ownerDn, taskName);
    if ((await this.redis.get(key)) === taskId) await this.redis.del(key);
  }

  /** The task whose jobs write `dataset` (the newest, when several did), or undefined for a dataset no task produces. */
  async producerOf(dataset: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.producers, dataset)) ?? undefined;
  }

  /**
   * Writes the task, its spec template and all its jobs in pipelined batches of its task shard (a
   * 10,000-job task is one round trip per 1,000 jobs), then the sites' counters, each in its shard.
   */
  async createTask(task: Omit<TaskRecord, "status" | "njobs" | "createdAt" | "updatedAt" | "open" | "message" | "errorCode">, jobs: readonly NewJob[], now = Date.now(), open?: OpenTaskInit): Promise<TaskRecord> {
    const record: TaskRecord = { ...task, status: "active", njobs: jobs.length, createdAt: now, updatedAt: now, ...(open && { open: true }) };
    for (const j of jobs) {
      if (j.spec.taskId !== task.taskId || taskIdOf(j.spec.jobId) !== task.taskId) throw new Error(`job ${j.spec.jobId} is not <${task.taskId}>.<index> of task ${task.taskId}`);
    }
    const tk = this.keys.task(task.taskId);
    const tpl = open ? openTemplate(open.prototype) : specTemplate(jobs.map((j) => j.spec));
    const rest = open ? specRestAgainst : specRest;
    const states: Record<string, number> = {};
    const errors: Record<string, number> = {};
    const siteStates = new Map<string, number>();
    let ownQueue = false;
    // Pipelines of 1,000 jobs, sent together: Redis applies them in order on one connection, and
    // the client does not wait a round trip per chunk. Every key is in the task's slot.
    const pending: Array<Promise<unknown>> = [];
    // An open task may start with no job: its template and plan are still written (i === 0).
    for (let i = 0; i === 0 || i < jobs.length; i += 1000) {
      const p = this.redis.pipeline();
      if (i === 0) {
        p.set(tk.tpl, JSON.stringify(tpl));
        // An open task's plan and first consumed files go with its first records (same shard).
        if (open) {
          p.set(tk.plan, open.plan);
          if (open.consumed.length > 0) p.sadd(tk.consumed, ...open.consumed);
        }
      }
      for (const j of jobs.slice(i, i + 1000)) {
        const own = rest(j.spec, tpl);
        if (!ownQueue && setsQueueField(own)) ownQueue = true;
        const h: Hash = {
          spec: JSON.stringify(own),
          state: j.state,
          site: j.state === "activated" ? j.spec.site : "",
          attempt: String(j.spec.attempt),
          createdAt: String(now),
          updatedAt: String(now),
        };
        if (j.errorCode !== undefined) h.errorCode = String(j.errorCode);
        if (j.errorMessage !== undefined) h.errorMessage = j.errorMessage;
        p.hset(tk.job(j.spec.jobId), h);
        states[j.state] = (states[j.state] ?? 0) + 1;
        if (j.state === "failed" && j.errorCode !== undefined) errors[j.errorCode] = (errors[j.errorCode] ?? 0) + 1;
        if (j.state === "activated") siteStates.set(j.spec.site, (siteStates.get(j.spec.site) ?? 0) + 1);
      }
      if (jobs.length > 0) p.rpush(tk.jobs, ...jobs.slice(i, i + 1000).map((j) => j.spec.jobId));
      pending.push(p.exec());
    }
    await Promise.all(pending);
    this.remember(task.taskId, tpl);
    const allFailed = jobs.length > 0 && (states.failed ?? 0) === jobs.length;
    // An open task may still get jobs that run, so it stays active (rollUpTask).
    if (allFailed && !open) record.status = "broken";
    const p = this.redis.pipeline();
    for (const [state, n] of Object.entries(states)) p.hincrby(tk.states, state, n);
    for (const [code, n] of Object.entries(errors)) p.hincrby(tk.errors, code, n);
    p.hset(tk.task, { ...this.serializeTask(record), [OWN_QUEUE_FIELDS]: ownQueue ? "1" : "0" });
    const writes: Array<Promise<unknown>> = [p.exec()];
    writes.push(this.siteCounters(siteStates, errors));
    writes.push(this.redis.zadd(this.keys.tasks, now, task.taskId));
    writes.push(this.redis.hset(this.keys.producers, task.outputDataset, task.taskId));
    if (open) writes.push(this.redis.sadd(this.keys.openTasks, task.taskId));
    await Promise.all(writes);
    return record;
  }

  /** The site side of new jobs: each site's `activated` count, and unbrokered failures in the site-less shard (''). */
  private async siteCounters(siteStates: ReadonlyMap<string, number>, errors: Readonly<Record<string, number>>): Promise<void> {
    const writes: Array<Promise<unknown>> = [];
    const sites = [...siteStates.keys(), ...(Object.keys(errors).length > 0 ? [""] : [])];
    if (sites.length > 0) writes.push(this.redis.sadd(this.keys.sites, ...sites));
    for (const [site, n] of siteStates) writes.push(this.redis.hincrby(this.keys.site(site).states, "activated", n));
    for (const [code, n] of Object.entries(errors)) writes.push(this.redis.hincrby(this.keys.site("").errors, code, n));
    await Promise.all(writes);
  }

  /** The tasks still open for more jobs. */
  async openTaskIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.openTasks);
  }

  /** The planner's data of a task that is or was open (`OpenTaskInit.plan`); undefined for any other task. */
  async taskPlan(taskId: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.task(taskId).plan)) ?? undefined;
  }

  /** The input files an open (or once open) task's jobs consume (`<dataset>\n<lfn>`). */
  async consumedFiles(taskId: string): Promise<Set<string>> {
    return new Set(await this.redis.smembers(this.keys.task(taskId).consumed));
  }

  /** Drops a task from the open list (it is closed or gone). */
  async forgetOpenTask(taskId: string): Promise<void> {
    await this.redis.srem(this.keys.openTasks, taskId);
  }

  /** How many input files an open (or once open) task's jobs consume. */
  async consumedCount(taskId: string): Promise<number> {
    return this.redis.scard(this.keys.task(taskId).consumed);
  }

  /**
   * Adds jobs to an open task with the input files they consume, and closes it when `close` is
   * given, each step atomic in the task's shard (grow-5.lua): `expectNjobs` is the job count the
   * caller planned from, so a planner that lost a race gets `conflict` and plans again, and no file
   * is ever consumed twice. Jobs are numbered on from `expectNjobs` (the caller made their ids).
   * Records only: the caller queues the activated ones afterwards, as the intake does.
   */
  async growTask(taskId: string, expectNjobs: number, jobs: ReadonlyArray<NewJob & { readonly consumes: readonly string[] }>, close?: { readonly message: string; readonly errorCode?: number }, now = Date.now()): Promise<GrowResult> {
    const tk = this.keys.task(taskId);
    const tpl = await this.template(taskId);
    let njobs = expectNjobs;
    let status: TaskStatus = "active";
    const owns = jobs.map((j) => specRestAgainst(j.spec, tpl));
    // Before the records: the reconciler's tally reads the flag with them (OWN_QUEUE_FIELDS).
    if (owns.some(setsQueueField)) await this.redis.hset(tk.task, OWN_QUEUE_FIELDS, "1");
    const chunks: Array<typeof jobs> = [];
    for (let i = 0; i < jobs.length; i += GROW_CHUNK) chunks.push(jobs.slice(i, i + GROW_CHUNK));
    if (chunks.length === 0) chunks.push([]);
    for (const [c, chunk] of chunks.entries()) {
      const last = c === chunks.length - 1;
      const files = chunk.flatMap((j) => j.consumes);
      const args: string[] = [String(njobs), last && close ? "1" : "0", String(now), close?.errorCode !== undefined ? String(close.errorCode) : "", close?.message ?? "", String(files.length), ...files];
      for (const [n, j] of chunk.entries()) {
        if (taskIdOf(j.spec.jobId) !== taskId) throw new Error(`job ${j.spec.jobId} is not <${taskId}>.<index>`);
        args.push(j.spec.jobId, j.state, j.state === "activated" ? j.spec.site : "", JSON.stringify(owns[c * GROW_CHUNK + n]), j.errorCode !== undefined ? String(j.errorCode) : "", j.errorMessage ?? "");
      }
      const keys = [tk.task, tk.states, tk.errors, tk.jobs, tk.consumed, ...chunk.map((j) => tk.job(j.spec.jobId))];
      const [code, value, after] = (await growScript.run(this.redis, keys, args)) as [number, string | number, string?];
      if (code === -1 || code === -2) {
        if (c > 0) throw new Error(`task ${taskId} changed between two steps of one planner's growth`);
        return { outcome: "conflict" };
      }
      if (code === 0) {
        await this.redis.srem(this.keys.openTasks, taskId);
        return { outcome: value === "aborted" ? "aborted" : "closed" };
      }
      njobs = Number(value);
      status = after as TaskStatus;
      const siteStates = new Map<string, number>();
      const errors: Record<string, number> = {};
      for (const j of chunk) {
        if (j.state === "activated") siteStates.set(j.spec.site, (siteStates.get(j.spec.site) ?? 0) + 1);
        else if (j.errorCode !== undefined) errors[j.errorCode] = (errors[j.errorCode] ?? 0) + 1;
      }
      await this.siteCounters(siteStates, errors);
    }
    if (close) await this.redis.srem(this.keys.openTasks, taskId);
    return { outcome: "grown", njobs, status };
  }

  private remember(taskId: string, tpl: Template): void {
    if (this.templates.size >= TEMPLATE_CACHE_MAX) {
      this.templates.clear();
      this.templateTexts.clear();
      this.shapes.clear();
    }
    this.templates.set(taskId, tpl);
    this.templateTexts.delete(taskId);
    this.shapes.delete(taskId);
  }

  /** A remembered template as JSON text, made once (a claim joins it with the record's own fields). */
  private templateJson(taskId: string): string | undefined {
    let text = this.templateTexts.get(taskId);
    if (text === undefined) {
      const tpl = this.templates.get(taskId);
      if (tpl === undefined) return undefined;
      this.templateTexts.set(taskId, (text = JSON.stringify(tpl)));
    }
    return text;
  }

  private async template(taskId: string): Promise<Template> {
    const cached = this.templates.get(taskId);
    if (cached) return cached;
    const raw = await this.redis.get(this.keys.task(taskId).tpl);
    const tpl = raw ? (JSON.parse(raw) as Template) : {};
    if (raw) this.remember(taskId, tpl);
    return tpl;
  }

  private serializeTask(t: TaskRecord): Hash {
    // `open` is '1' for the Lua roll-up (rollup.lua), which reads it in the same step as the counts.
    return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, k === "open" ? (v === true ? "1" : "0") : String(v)]));
  }

  async getTask(taskId: string): Promise<TaskRecord | undefined> {
    const h = await this.redis.hgetall(this.keys.task(taskId).task);
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
      ...(h.open !== undefined && { open: h.open === "1" }),
      ...(h.message && { message: h.message }),
      ...(h.errorCode && { errorCode: Number(h.errorCode) }),
    };
  }

  /** Newest first. */
  async listTasks(opts: { offset?: number; limit?: number } = {}): Promise<TaskRecord[]> {
    const offset = opts.offset ?? 0;
    const ids = await this.redis.zrevrange(this.keys.tasks, offset, offset + (opts.limit ?? 100) - 1);
    const tasks = await Promise.all(ids.map((id) => this.getTask(id)));
    return tasks.filter((t): t is TaskRecord => t !== undefined);
  }

  async setTaskStatus(taskId: string, status: TaskStatus, now = Date.now()): Promise<void> {
    await this.redis.hset(this.keys.task(taskId).task, "status", status, "updatedAt", String(now));
  }

  async taskCounts(taskId: string): Promise<Record<JobState, number>> {
    const h = await this.redis.hgetall(this.keys.task(taskId).states);
    return Object.fromEntries(JOB_STATES.map((s) => [s, Number(h[s] ?? 0)])) as Record<JobState, number>;
  }

  async siteCounts(site: string): Promise<Record<JobState, number>> {
    const h = await this.redis.hgetall(this.keys.site(site).states);
    return Object.fromEntries(JOB_STATES.map((s) => [s, Number(h[s] ?? 0)])) as Record<JobState, number>;
  }

  async taskErrors(taskId: string): Promise<Record<string, number>> {
    return Object.fromEntries(Object.entries(await this.redis.hgetall(this.keys.task(taskId).errors)).map(([k, v]) => [k, Number(v)]));
  }

  /** Every site that ever had a job, and '' (the shard of unbrokered jobs). */
  async knownSites(): Promise<string[]> {
    const sites = await this.redis.smembers(this.keys.sites);
    return sites.includes("") ? sites : [...sites, ""];
  }

  /** Failure codes (and refused stale updates) across all tasks of this namespace: the sites' shards summed. */
  async errorCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const all = await Promise.all((await this.knownSites()).map((s) => this.redis.hgetall(this.keys.site(s).errors)));
    for (const h of all) for (const [k, v] of Object.entries(h)) out[k] = (out[k] ?? 0) + Number(v);
    for (const k of Object.keys(out)) if (out[k] === 0) delete out[k];
    return out;
  }

  private parseJob(jobId: string, h: Hash, tpl: Template): JobRecord | undefined {
    if (!h.state) return undefined;
    return {
      jobId,
      taskId: taskIdOf(jobId),
      spec: { ...tpl, ...(JSON.parse(h.spec) as Template) } as JobSpec,
      state: h.state as JobState,
      site: h.site ?? "",
      attempt: Number(h.attempt ?? 1),
      pilotId: h.pilotId || undefined,
      leaseToken: h.leaseToken || undefined,
      ...this.boundReportKey(jobId, h.leaseToken, h.reportKey, h.reportKeySeal),
      reportKeySeal: h.reportKeySeal || undefined,
      errorCode: num(h.errorCode),
      errorMessage: h.errorMessage || undefined,
      ...(h.causeCode && { causeCode: Number(h.causeCode) }),
      createdAt: Number(h.createdAt),
      updatedAt: Number(h.updatedAt),
      startedAt: num(h.startedAt),
      endedAt: num(h.endedAt),
      wallSec: num(h.wallSec) ?? wallOf(num(h.startedAt), num(h.endedAt)),
      preemptions: num(h.preemptions),
      unconfirmed: num(h.unconfirmed),
    };
  }

  private jobKey(jobId: string): string {
    return this.keys.task(taskIdOf(jobId)).job(jobId);
  }

  /** State and holder only: a heartbeat asks this of every running job, and the spec's JSON is most of a record. */
  async getHolder(jobId: string): Promise<{ state: JobState; pilotId: string } | undefined> {
    const [state, pilotId] = await this.redis.hmget(this.jobKey(jobId), "state", "pilotId");
    return state ? { state: state as JobState, pilotId: pilotId ?? "" } : undefined;
  }

  async getJob(jobId: string): Promise<JobRecord | undefined> {
    let taskId: string;
    try {
      taskId = taskIdOf(jobId);
    } catch {
      return undefined;
    }
    const [h, tpl] = await Promise.all([this.redis.hgetall(this.keys.task(taskId).job(jobId)), this.template(taskId)]);
    return this.parseJob(jobId, h, tpl);
  }

  async jobIds(taskId: string, offset = 0, limit = -1): Promise<string[]> {
    return this.redis.lrange(this.keys.task(taskId).jobs, offset, limit < 0 ? -1 : offset + limit - 1);
  }

  async listJobs(taskId: string, opts: { state?: JobState; offset?: number; limit?: number } = {}): Promise<JobRecord[]> {
    const ids = await this.jobIds(taskId, opts.state ? 0 : opts.offset ?? 0, opts.state ? -1 : opts.limit ?? -1);
    const tpl = await this.template(taskId);
    const tk = this.keys.task(taskId);
    const out: JobRecord[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const p = this.redis.pipeline();
      for (const id of chunk) p.hgetall(tk.job(id));
      const res = (await p.exec()) ?? [];
      res.forEach(([, h], n) => {
        const j = this.parseJob(chunk[n], h as Hash, tpl);
        if (j && (!opts.state || j.state === opts.state)) out.push(j);
      });
    }
    if (opts.state) return out.slice(opts.offset ?? 0, opts.limit === undefined ? undefined : (opts.offset ?? 0) + opts.limit);
    return out;
  }

  /**
   * The reconciler's read of a task's records, `batch` at a time (one script call per batch in the
   * task's shard, tally-1.lua): state, site, error code, times and lease token, and where an
   * activated job queues. No spec is read unless a record of the task may set a queue field in its
   * own part (OWN_QUEUE_FIELDS), and none parsed unless the record's does (the task's template
   * gives the rest), so a pass over a million queued jobs parses almost none.
   */
  async *tallyJobs(taskId: string, batch = 500, inFlight = 4): AsyncGenerator<JobTally[]> {
    const tk = this.keys.task(taskId);
    const tpl = await this.template(taskId);
    let tplAc: string | undefined;
    const read = async (ids: readonly string[]): Promise<JobTally[]> => {
      const keys = [tk.task];
      for (const id of ids) keys.push(tk.job(id));
      const flat = (await tallyScript.run(this.redis, keys, TALLY_ARGS)) as string[];
      const out: JobTally[] = [];
      for (let i = 0; i < ids.length; i++) {
        const state = flat[i * 6] as JobState | "";
        if (state === "") continue;
        const site = flat[i * 6 + 1];
        const own = flat[i * 6 + 5];
        // The record's own part overrides the template (parseJob's `{...tpl, ...own}`).
        const spec = (own === "" ? tpl : { ...tpl, ...(JSON.parse(own) as Template) }) as JobSpec;
        let autocluster: string | undefined;
        if (state === QUEUED) autocluster = own === "" ? (tplAc ??= autoclusterId(autoclusterKey(spec))) : autoclusterId(autoclusterKey(spec));
        out.push({
          jobId: ids[i],
          state,
          site,
          queueSite: site || spec.site,
          errorCode: num(flat[i * 6 + 2]),
          // NaN when missing, as parseJob reads it: such a record is never taken as settled.
          updatedAt: flat[i * 6 + 3] === "" ? NaN : Number(flat[i * 6 + 3]),
          leaseToken: flat[i * 6 + 4] || undefined,
          autocluster,
        });
      }
      return out;
    };
    // `inFlight` batches sent together: a pass waits one round trip per span of ids, not per batch.
    const span = batch * inFlight;
    for (let at = 0; ; at += span) {
      const ids = await this.jobIds(taskId, at, span);
      if (ids.length === 0) return;
      const parts: Array<Promise<JobTally[]>> = [];
      for (let i = 0; i < ids.length; i += batch) parts.push(read(ids.slice(i, i + batch)));
      for (const part of await Promise.all(parts)) yield part;
      if (ids.length < span) return;
    }
  }

  /**
   * Moves a job to `to` only if its current state is one of `from` (each a move lifecycle.ts allows)
   * and, when `fence` is given (an update from a pilot), only if it names the job's current attempt
   * and lease token; a stale update is refused and counted under JOB_STALE_UPDATE at the job's site.
   */
  transition(jobId: string, to: JobState, from: readonly JobState[], patch: JobPatch = {}, now = Date.now(), taskId?: string, o: MoveOptions = {}, fence?: Fence): Promise<TransitionResult> {
    // A loop rather than filter(): every claim and heartbeat move comes through here. Not an async
    // function: that wrapped move()'s promise in one more (and its frame) on every claim.
    for (const s of from) if (!canMove(s, to)) return Promise.reject(new Error(`the life cycle has no move ${from.filter((f) => !canMove(f, to)).join("/")} -> ${to}`));
    return this.move(jobId, to, from, patch, now, taskId, o, fence);
  }

  /** An operator's retry: a `failed` job back to its queue as a new attempt (lifecycle.ts REOPENABLE). */
  async reopen(jobId: string, patch: JobPatch, now = Date.now()): Promise<TransitionResult> {
    return this.move(jobId, "activated", REOPENABLE, patch, now);
  }

  private async move(jobId: string, to: JobState, from: readonly JobState[], patch: JobPatch, now: number, taskId?: string, o: MoveOptions = {}, fence?: Fence): Promise<TransitionResult> {
    let task: string;
    try {
      task = taskId ?? taskIdOf(jobId);
    } catch {
      return { moved: false, stale: false, from: undefined, attempt: 0 };
    }
    const tk = this.keys.task(task);
    const tpl = to === "sent" ? this.templateJson(task) : undefined;
    const want = to !== "sent" ? "0" : tpl !== undefined ? "1" : "2";
    const args = moveArgs(to, from, patch, now, want, o, fence);
    const keys = [tk.job(jobId), tk.task, tk.states, tk.errors, tk.attempts(jobId), tk.tpl];
    // A whole spec written into the record (an operator's retry) sets every field: flagged first (OWN_QUEUE_FIELDS).
    if (patch.spec !== undefined) await this.redis.hset(tk.task, OWN_QUEUE_FIELDS, "1");
    const res = (await transitionScript.run(this.redis, keys, args)) as MoveReply;
    return this.moved(jobId, task, to, res, 0, tpl, now, o);
  }

  /**
   * For a claim and its record's move in one script (claim-move-5.lua, dispatch-queues.ts, single
   * server only): the record's part of that script's ARGV — the task-shard key templates of
   * transition-6's KEYS and its ARGV for `activated → sent` with `patch` (the script adds the lease
   * token): how many values it has (`writeClaimMoveArgs` writes them) — and, through `claimMoved`, its
   * result read as `transition` reads its own.
   */
  claimMoveArgsLength(patch: JobPatch): number {
    return 6 + moveArgsLength(patch);
  }

  /** Writes that part into `args` from `at`: `claimMoveArgsLength(patch)` values. */
  writeClaimMoveArgs(args: Array<string | number>, at: number, patch: JobPatch, now: number): void {
    const templates = this.moveKeyTemplates;
    for (let i = 0; i < templates.length; i++) args[at + i] = templates[i];
    writeMoveArgs(args, at + templates.length, "sent", CLAIMABLE, patch, now, "1", CLAIM_MOVE);
  }

  /**
   * What claim-move-5.lua's transition-6 part did (its reply `res` from index `from`, read in place
   * rather than from a copy), as `transition` returns it.
   */
  claimMoved(jobId: string, res: readonly unknown[], from: number, now: number): TransitionResult | Promise<TransitionResult> {
    let task: string;
    try {
      task = taskIdOf(jobId);
    } catch {
      return { moved: false, stale: false, from: undefined, attempt: 0 };
    }
    // The script returns the record's own fields only: the template is the one remembered, read
    // once per task when this matchmaker has not seen the task yet. Otherwise nothing waits, and
    // the result is returned as it is (no promise and no await on the matchmaker's per-match path).
    const tpl = this.templateJson(task);
    if (tpl === undefined && res[from] === 1) return this.template(task).then(() => this.moved(jobId, task, "sent", res, from, this.templateJson(task) ?? "{}", now, CLAIM_MOVE));
    return this.moved(jobId, task, "sent", res, from, tpl, now, CLAIM_MOVE);
  }

  /** transition-6's KEYS for any job, '\u0001' standing for the task id and '\u0002' for the job id (claim-move-5.lua). */
  private get moveKeyTemplates(): readonly string[] {
    if (this.keyTemplates === undefined) {
      const tk = this.keys.task("\u0001");
      this.keyTemplates = [tk.job("\u0002"), tk.task, tk.states, tk.errors, tk.attempts("\u0002"), tk.tpl];
    }
    return this.keyTemplates;
  }

  /**
   * A move's result, once its site effects (if any) are written; returned as it is when there are
   * none (a claim counted by its own script), so the per-match path awaits nothing here.
   */
  /** transition-6's reply (`MoveReply`), read from `res[at]` on. */
  private moved(jobId: string, task: string, to: JobState, res: readonly unknown[], at: number, tpl: string | undefined, now: number, o: MoveOptions): TransitionResult | Promise<TransitionResult> {
    const code = res[at] as MoveReply[0];
    const cur = res[at + 1] as MoveReply[1];
    const attempt = res[at + 2] as MoveReply[2];
    const oldSite = res[at + 3] as MoveReply[3];
    const newSite = res[at + 4] as MoveReply[4];
    const failed = res[at + 5] as MoveReply[5];
    const spec = res[at + 6] as MoveReply[6];
    const template = res[at + 7] as MoveReply[7];
    const moved = code === 1;
    const fromState = (cur || undefined) as JobState | undefined;
    let effects: Promise<unknown> | undefined;
    if (code === -1 && !o.leaseCheck) effects = this.applyEffects(jobId, oldSite, { states: {}, holding: "", error: String(ERR.JOB_STALE_UPDATE) }, now);
    else if (moved && fromState && !this.claimOnly(fromState, to, oldSite, newSite, failed, o.siteCounted === true)) effects = this.siteEffects(jobId, fromState, to, oldSite, newSite, failed, now, o.siteCounted === true);
    const stale = code === -1;
    const after = Number(attempt || 0);
    let result: TransitionResult;
    if (!moved || spec === undefined) result = { moved, stale, from: fromState, attempt: after, site: newSite };
    else {
      let t = tpl;
      if (t === undefined) {
        t = template || "{}";
        if (template) this.remember(task, JSON.parse(template) as Template);
      }
      result = { moved, stale, from: fromState, attempt: after, site: newSite, spec: this.claimedSpec(task, t, spec) };
    }
    return effects === undefined ? result : effects.then(() => result);
  }

  /** A claimed record's spec: its own fields parsed, joined with its task's template (spec-join.ts). */
  private claimedSpec(taskId: string, templateJson: string, own: string): JobSpec {
    const tpl = this.templates.get(taskId);
    if (tpl === undefined || own === "" || own === "{}") return joinSpec(templateJson, own);
    const fields = JSON.parse(own) as Template;
    let shape = this.shapes.get(taskId);
    if (shape === undefined) this.shapes.set(taskId, (shape = new SpecShape(tpl, fields)));
    return shape.join(fields) ?? joinSpec(templateJson, own);
  }

  /**
   * The report key's seal, written into the record once a claim made by claim-move-5.lua stands
   * (the seal covers the job id, known only then), while the record still holds that claim's lease
   * token. Before the envelope leaves, so no report can be checked against the record without it.
   */
  bindReportKeySeal(jobId: string, leaseToken: string, seal: string): Promise<unknown> {
    return sealBindScript.run(this.redis, [this.keys.task(taskIdOf(jobId)).job(jobId)], [leaseToken, seal]);
  }

  /**
   * A claim (counted by its own script, at the site it stays at) has nothing to write at its site:
   * checked before `siteEffects` is called, since an async call and its await cost heap even when
   * it returns at once, and this is the matchmaker's per-match path.
   */
  private claimOnly(cur: JobState, to: JobState, oldSite: string, newSite: string, failed: string, counted: boolean): boolean {
    return counted && isReporting(to) === isReporting(cur) && !failed && newSite === oldSite;
  }

  /** The site side of a move: counters out of the old site and into the new, holding index, failure count. */
  private async siteEffects(jobId: string, cur: JobState, to: JobState, oldSite: string, newSite: string, failed: string, now: number, counted: boolean): Promise<void> {
    const enters = isReporting(to) && !isReporting(cur);
    const leaves = isReporting(cur) && !isReporting(to);
    const at = new Map<string, SiteEffect>();
    const eff = (site: string): SiteEffect => {
      let e = at.get(site);
      if (!e) at.set(site, (e = { states: {}, holding: "", error: "" }));
      return e;
    };
    if (!counted) {
      if (oldSite) eff(oldSite).states[cur] = (eff(oldSite).states[cur] ?? 0) - 1;
      if (newSite) eff(newSite).states[to] = (eff(newSite).states[to] ?? 0) + 1;
    }
    if (leaves && oldSite) eff(oldSite).holding = "rem";
    if (enters && newSite) eff(newSite).holding = "add";
    if (failed) eff(newSite).error = failed;
    const writes: Array<Promise<unknown>> = [];
    for (const [site, e] of at) {
      for (const s of Object.keys(e.states)) if (e.states[s] === 0) delete e.states[s];
      if (Object.keys(e.states).length === 0 && !e.holding && !e.error) continue;
      writes.push(this.applyEffects(jobId, site, e, now));
    }
    if (newSite && newSite !== oldSite) writes.push(this.redis.sadd(this.keys.sites, newSite));
    await Promise.all(writes);
  }

  private applyEffects(jobId: string, site: string, e: SiteEffect, now: number): Promise<unknown> {
    const sk = this.keys.site(site);
    const args: string[] = [jobId, String(now), e.holding, e.error];
    for (const [s, by] of Object.entries(e.states)) args.push(s, String(by));
    return effectsScript.run(this.redis, [sk.states, sk.holding, sk.errors], args);
  }

  /**
   * Checks a pilot's update that moves nothing (a heartbeat, an accounting record, a key renewal)
   * against the job's current attempt and lease token, in the same script code as transitions. A
   * stale one is counted under JOB_STALE_UPDATE at the job's site. An admitted update gets the site
   * its attempt ran at and, with `withSpec`, the job's spec, read in the same step as the fence.
   */
  async checkFence(jobId: string, fence: Fence, o: { endedReportedOk?: boolean; withSpec?: boolean } = {}): Promise<FenceVerdict> {
    let task: string;
    try {
      task = taskIdOf(jobId);
    } catch {
      return { verdict: "unknown", state: undefined };
    }
    const tk = this.keys.task(task);
    const args = [String(fence.attempt), fence.leaseToken, fence.pilotId ?? "", o.endedReportedOk ? "1" : "0", o.withSpec ? "1" : "0"];
    const [v, state, site, reportKey, reportKeySeal, own] = (await fenceScript.run(this.redis, [tk.job(jobId), tk.attempts(jobId)], args)) as [number, string, string, string?, string?, string?];
    if (v === -1) await this.applyEffects(jobId, site, { states: {}, holding: "", error: String(ERR.JOB_STALE_UPDATE) }, Date.now());
    const verdict = v === 1 ? "current" : v === 2 ? "ended" : v === -1 ? "stale" : "unknown";
    if (v <= 0) return { verdict, state: (state || undefined) as JobState | undefined };
    // The report key of the attempt the fence admitted (the current one's, or the ended one's from its history).
    const admitted: FenceVerdict = { verdict, state: state as JobState, site, ...this.boundReportKey(jobId, fence.leaseToken, reportKey, reportKeySeal) };
    if (!own) return admitted;
    return { ...admitted, spec: { ...(await this.template(task)), ...(JSON.parse(own) as Template) } as JobSpec };
  }

  /**
   * The start time of a late `starting` / `running` report, for a record that moved past those states
   * without one (its pilot's heartbeat moved it to holding, or its final report came first): written
   * under the report's fence and only once (started-1.lua).
   */
  async noteStarted(jobId: string, at: number, fence: Fence): Promise<boolean> {
    let task: string;
    try {
      task = taskIdOf(jobId);
    } catch {
      return false;
    }
    const res = await startedScript.run(this.redis, [this.keys.task(task).job(jobId)], [String(fence.attempt), fence.leaseToken, fence.pilotId ?? "", String(at)]);
    return res === 1;
  }

  /** Every task id of the namespace, oldest first (the reconciler's scan). */
  async allTaskIds(): Promise<string[]> {
    return this.redis.zrange(this.keys.tasks, 0, -1);
  }

  /**
   * Moves a task's or a site's state counters by `delta` (state -> n): the reconciler's repair. A
   * delta, not a SET, so transitions that ran between its count and this write are kept.
   */
  async adjustCounts(target: { readonly taskId: string } | { readonly site: string }, delta: Readonly<Record<string, number>>): Promise<void> {
    const key = "taskId" in target ? this.keys.task(target.taskId).states : this.keys.site(target.site).states;
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
    for (const [code, by] of Object.entries(delta)) if (by !== 0) p.hincrby(this.keys.task(taskId).errors, code, by);
    await p.exec();
  }

  /** Every ended attempt of a job, oldest first (the current one is the record itself). */
  async attempts(jobId: string): Promise<AttemptRecord[]> {
    return parseAttempts(await this.redis.hgetall(this.keys.task(taskIdOf(jobId)).attempts(jobId)));
  }

  /**
   * `attempts` of many jobs: one pipeline per hash slot (keysBySlot: on a Redis Cluster a pipeline
   * runs in one slot, here a task shard; a single server takes them all in one), in chunks as
   * `listJobs` reads records, the slots side by side.
   */
  async attemptsOf(jobIds: readonly string[]): Promise<Map<string, AttemptRecord[]>> {
    const out = new Map<string, AttemptRecord[]>();
    const jobOf = new Map<string, string>();
    for (const id of jobIds) jobOf.set(this.keys.task(taskIdOf(id)).attempts(id), id);
    if (jobOf.size === 0) return out;
    await Promise.all(
      keysBySlot(this.redis, [...jobOf.keys()]).map(async (keys) => {
        for (let i = 0; i < keys.length; i += 500) {
          const chunk = keys.slice(i, i + 500);
          const p = this.redis.pipeline();
          for (const k of chunk) p.hgetall(k);
          const res = (await p.exec()) ?? [];
          res.forEach(([err, h], n) => {
            if (err) throw err;
            out.set(jobOf.get(chunk[n]) as string, parseAttempts(h as Hash));
          });
        }
      }),
    );
    return out;
  }

  /** Jobs in holding/transferring since before `before` (ms), oldest first, at one site or at every site. */
  async holdingSince(before: number, limit = 500, site?: string): Promise<string[]> {
    const sites = site !== undefined ? [site] : await this.knownSites();
    const all = await Promise.all(sites.map((s) => this.redis.zrangebyscore(this.keys.site(s).holding, "-inf", before, "LIMIT", 0, limit)));
    return all.flat().slice(0, limit);
  }

  /**
   * Fails every job (of one site, or of all) that has been holding longer than `timeoutMs` with
   * JOB_HOLDING_TIMEOUT: its payload ended but no final report came. Idempotent (guarded moves).
   * Returns the jobs it failed.
   */
  async failOverdueHolding(timeoutMs: number, now = Date.now(), site?: string): Promise<string[]> {
    const failed: string[] = [];
    const sites = site !== undefined ? [site] : await this.knownSites();
    for (const s of sites) {
      for (const id of await this.holdingSince(now - timeoutMs, 500, s)) {
        const t = await this.transition(id, "failed", REPORTING_STATES, { errorCode: ERR.JOB_HOLDING_TIMEOUT, errorMessage: `no final report within ${Math.round(timeoutMs / 1000)} s of the payload's end`, endedAt: now }, now);
        if (t.moved) failed.push(id);
        else if (!t.from || !(REPORTING_STATES as readonly JobState[]).includes(t.from)) await this.redis.zrem(this.keys.site(s).holding, id);
      }
    }
    return failed;
  }
}
