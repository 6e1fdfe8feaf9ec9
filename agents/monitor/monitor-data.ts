// Everything the dashboard shows, read from Redis through the stores that own each record.
// Read-only by construction: no method here writes, and nothing returned carries a credential,
// key or token (job environments are not exposed at all).
import type { RedisClient } from "../../platform/redis-client.ts";
import { errorEntry, type WireNames } from "../../schemas/index.ts";
import { JOB_STATES, JobStore, isFinal, type AttemptRecord, type JobRecord, type JobState, type TaskRecord } from "../../jobs/index.ts";
import { readQueueDepths, ReportRefusals, type QueueDepth, type RefusalCount } from "../reports/index.ts";
import { factoryControlRefusals, type FactoryControlRefusal } from "../../security/index.ts";
// The module, not site-authz's index: the monitor needs the refusal counter's reader only.
import { poolLeaseRefusals } from "../../site-authz/pool-lease-service.ts";

export type StateCounts = Record<JobState, number>;

export interface TaskView extends TaskRecord {
  counts: StateCounts;
  errors: Array<{ code: number; name: string; count: number }>;
}

export interface JobView {
  jobId: string;
  state: JobState;
  site: string;
  attempt: number;
  maxAttempts: number;
  pilotId?: string;
  errorCode?: number;
  errorName?: string;
  errorMessage?: string;
  wallSec?: number;
  userDn: string;
  inputFiles: number;
}

export interface SiteView {
  site: string;
  counts: StateCounts;
  queued: number;
  running: number;
  pilots: Record<string, number>;
  emptyPilotRatio: number | null;
  filesHeld: number | null;
}

export interface PilotCensusRow {
  site: string;
  state: string;
  count: number;
}

export interface FactoryQueueView {
  queue: string;
  site: string;
  submitted: number;
  pending: number;
  idle: number;
  running: number;
  exited: number;
  emptyPilots: number;
  ratePerMin: number;
  targetPerMin: number;
  /** Gone without an exit census (Harvester's missed workers). */
  missed?: number;
  /** Activated jobs the queue's pilots could run, as the factory last read them. */
  activatedJobs?: number;
  /** The queue's circuit breaker; `reason` is the code and message that opened it. */
  breaker?: { state: "closed" | "open" | "half-open"; failures: number; retryAt?: number; reason?: { code: number; message: string } };
  lastError?: { code: number; message: string };
}

export interface UsageView {
  name: string;
  jobs: number;
  wallSec: number;
  cpuSec: number;
  maxRssKb: number;
}

/** One attempt of a job, as the page lists it; `logUrl` when its logs are stored. */
export interface AttemptView {
  attempt: number;
  site: string;
  pilotId: string;
  /** The state the attempt ended in (or is in, for the current one), from the jobs core. */
  state?: string;
  /** `reported`: its pilot's report ended it; `lost`: its lease expired; `current`: the job's attempt, not ended yet. */
  ended?: "reported" | "lost" | "current";
  errorCode?: number;
  errorName?: string;
  message?: string;
  at: number;
  logUrl?: string;
}

/** Sources owned by other parts (factory, accounting, replica catalog), plugged in where they exist. */
export interface MonitorProviders {
  /** A job's attempts that left logs (the job log store, one LogReport per attempt): where the log links come from. */
  attempts?(jobId: string): Promise<AttemptView[]>;
  /** One attempt's logs as text (agents/job-logs formatJobLog), or undefined. */
  jobLogText?(jobId: string, attempt: number): Promise<string | undefined>;
  pilots?(): Promise<PilotCensusRow[]>;
  factory?(): Promise<FactoryQueueView[]>;
  usage?(by: "user" | "group" | "vo" | "site"): Promise<UsageView[]>;
  filesHeld?(site: string): Promise<number>;
  sites?(): Promise<string[]>;
}

function errorRows(h: Record<string, number>): TaskView["errors"] {
  return Object.entries(h)
    .map(([code, count]) => ({ code: Number(code), name: errorEntry(Number(code))?.name ?? "UNKNOWN", count }))
    .filter((e) => e.count > 0)
    .sort((a, b) => b.count - a.count);
}

export class MonitorData {
  readonly jobs: JobStore;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
    private readonly providers: MonitorProviders = {},
  ) {
    this.jobs = new JobStore(redis, names);
  }

  async tasks(limit = 100): Promise<TaskView[]> {
    const tasks = await this.jobs.listTasks({ limit });
    return Promise.all(tasks.map((t) => this.withCounts(t)));
  }

  private async withCounts(t: TaskRecord): Promise<TaskView> {
    const [counts, errors] = await Promise.all([this.jobs.taskCounts(t.taskId), this.jobs.taskErrors(t.taskId)]);
    return { ...t, counts, errors: errorRows(errors) };
  }

  async task(taskId: string): Promise<TaskView | undefined> {
    const t = await this.jobs.getTask(taskId);
    return t ? this.withCounts(t) : undefined;
  }

  /** One job and its attempts, or undefined when there is no such job. */
  async job(jobId: string): Promise<{ job: JobView; attempts: AttemptView[] } | undefined> {
    const j = await this.jobs.getJob(jobId);
    if (!j) return undefined;
    const [history, logged] = await Promise.all([this.jobs.attempts(jobId), this.providers.attempts?.(jobId) ?? Promise.resolve([])]);
    return { job: jobView(j), attempts: mergeAttempts(j, history, logged) };
  }

  async jobLogText(jobId: string, attempt: number): Promise<string | undefined> {
    return this.providers.jobLogText?.(jobId, attempt);
  }

  async taskJobs(taskId: string, opts: { state?: JobState; offset?: number; limit?: number } = {}): Promise<JobView[]> {
    const jobs = await this.jobs.listJobs(taskId, { state: opts.state, offset: opts.offset ?? 0, limit: opts.limit ?? 500 });
    return jobs.map(jobView);
  }

  /** Sites known from the providers, else every site that ever had a job in this namespace. */
  async siteNames(): Promise<string[]> {
    if (this.providers.sites) return this.providers.sites();
    return (await this.jobs.knownSites()).filter((s) => s !== "").sort();
  }

  async sites(): Promise<SiteView[]> {
    const [names, census] = await Promise.all([this.siteNames(), this.providers.pilots?.() ?? Promise.resolve([])]);
    const factory = (await this.providers.factory?.()) ?? [];
    return Promise.all(
      names.map(async (site) => {
        const counts = await this.jobs.siteCounts(site);
        const pilots: Record<string, number> = {};
        for (const row of census) if (row.site === site) pilots[row.state] = (pilots[row.state] ?? 0) + row.count;
        const fq = factory.filter((q) => q.site === site);
        const exited = fq.reduce((n, q) => n + q.exited, 0);
        const empty = fq.reduce((n, q) => n + q.emptyPilots, 0);
        return {
          site,
          counts,
          queued: counts.activated,
          running: counts.sent + counts.starting + counts.running,
          pilots,
          emptyPilotRatio: exited > 0 ? empty / exited : null,
          filesHeld: this.providers.filesHeld ? await this.providers.filesHeld(site) : null,
        };
      }),
    );
  }

  async pilots(): Promise<PilotCensusRow[]> {
    return (await this.providers.pilots?.()) ?? [];
  }

  async factory(): Promise<FactoryQueueView[]> {
    return (await this.providers.factory?.()) ?? [];
  }

  /** Reports the agents refused (forged, unsigned, stale), per kind and code, since the namespace began. */
  /** The report queues' depths as the agents last sampled them (none when no agents run). */
  async reportQueues(): Promise<QueueDepth[]> {
    return readQueueDepths(this.redis, this.names, Date.now());
  }

  async refusedReports(): Promise<RefusalCount[]> {
    return new ReportRefusals(this.redis, this.names).counts();
  }

  /** Factory control requests the factory refused (unsigned, not an operator, replayed, expired...), per code. */
  async refusedFactoryControls(): Promise<FactoryControlRefusal[]> {
    return factoryControlRefusals(this.redis, this.names);
  }

  /** Pool-lease requests the pool-lease service refused (not the attempt's holder, another DN, stale, replayed...), per code. */
  async refusedPoolLeases(): Promise<Array<{ code: number; count: number }>> {
    return poolLeaseRefusals(this.redis, this.names);
  }

  async errors(): Promise<TaskView["errors"]> {
    return errorRows(await this.jobs.errorCounts());
  }

  async usage(by: "user" | "group" | "vo" | "site"): Promise<UsageView[]> {
    return (await this.providers.usage?.(by)) ?? [];
  }

  /** Jobs by state summed over the newest tasks: the dashboard's headline and the history chart. */
  async totals(): Promise<StateCounts> {
    const total = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as StateCounts;
    for (const t of await this.tasks(1000)) for (const s of JOB_STATES) total[s] += t.counts[s];
    return total;
  }
}

/** One job as the monitor shows it, in the job page and in a task's job list alike. */
/**
 * A job's attempts as the page shows them: the jobs core's history is the truth (site, pilot, the
 * state each ended in, its code, whether a report or a lost lease ended it), the current attempt is
 * the record itself, and the log store adds each attempt's log link (and stands in for an attempt
 * the core has no row for, such as one from before it kept history).
 */
export function mergeAttempts(j: JobRecord, history: readonly AttemptRecord[], logged: readonly AttemptView[]): AttemptView[] {
  const byAttempt = new Map<number, AttemptView>();
  for (const l of logged) byAttempt.set(l.attempt, l);
  for (const h of history) {
    const code = h.errorCode === "" ? undefined : Number(h.errorCode);
    const known = code !== undefined && Number.isFinite(code);
    byAttempt.set(h.attempt, {
      attempt: h.attempt,
      site: h.site,
      pilotId: h.pilotId,
      state: h.state,
      ended: h.ended,
      ...(known ? { errorCode: code, errorName: errorEntry(code)?.name } : {}),
      ...(h.message ? { message: h.message } : {}),
      at: h.at,
      ...(byAttempt.get(h.attempt)?.logUrl ? { logUrl: byAttempt.get(h.attempt)!.logUrl } : {}),
    });
  }
  if (j.pilotId && !byAttempt.has(j.attempt)) {
    byAttempt.set(j.attempt, {
      attempt: j.attempt,
      site: j.site,
      pilotId: j.pilotId,
      state: j.state,
      ...(isFinal(j.state) ? {} : { ended: "current" as const }),
      ...(j.errorCode !== undefined ? { errorCode: j.errorCode, errorName: errorEntry(j.errorCode)?.name } : {}),
      ...(j.errorMessage ? { message: j.errorMessage } : {}),
      at: j.updatedAt,
    });
  } else if (byAttempt.has(j.attempt) && !history.some((h) => h.attempt === j.attempt)) {
    // The log store's row for the current attempt: the record knows its state.
    byAttempt.set(j.attempt, { ...byAttempt.get(j.attempt)!, state: j.state, ...(isFinal(j.state) ? {} : { ended: "current" as const }) });
  }
  return [...byAttempt.values()].sort((a, b) => a.attempt - b.attempt);
}

function jobView(j: JobRecord): JobView {
  return {
    jobId: j.jobId,
    state: j.state,
    site: j.site || j.spec.site,
    attempt: j.attempt,
    maxAttempts: j.spec.maxAttempts,
    pilotId: j.pilotId,
    errorCode: j.errorCode,
    errorName: j.errorCode !== undefined ? errorEntry(j.errorCode)?.name : undefined,
    errorMessage: j.errorMessage,
    wallSec: j.wallSec,
    userDn: j.spec.userDn,
    inputFiles: j.spec.inputFiles.length,
  };
}
