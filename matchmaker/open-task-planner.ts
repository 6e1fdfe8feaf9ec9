// The planner of open tasks: a task whose input is another task's output, accepted while that task
// runs (`inputRelease: files`, the default), gets its jobs as the producer's outputs are registered
// (JEDI's incremental job generation). The intake runs it, since the intake seals job specs (the
// matchmaker signs no envelope for a spec without its seal) and brokers them; each intake instance
// runs a pass every `intervalMs` over the open tasks. Two planners racing on one task are safe:
// `JobStore.growTask` takes the files and records the jobs in one step of the task's shard, checked
// against the job count the planner read, so the loser plans again and no file is consumed twice.
//
// One task, top to bottom: read its producers' status, THEN the catalog (outputs are registered
// before their job moves, so a producer seen ended has all its files in what is read after) and its
// consumed files → input-release.ts decides which files form jobs now and whether the task closes →
// brokerage (planGroups: data-local sites, the same picker as the intake) → seal → growTask → queue
// the activated jobs through dispatch.enqueue, as the intake does.
import { ERR, TaskBatch, WmsError, type JobSpec } from "../schemas/index.ts";
import { sealJobSpec } from "../security/index.ts";
import type { JobStore, NewJob } from "../jobs/index.ts";
import { planGroups, type BrokerageInput } from "./brokerage.ts";
import { fileId, releaseFiles, type ReleasedInput } from "./input-release.ts";
import { failUnqueued, type IntakeContext } from "./intake-context.ts";
import { siteLoads } from "./site-loads.ts";

/** An input dataset of an open task and the task writing it. */
export interface OpenInput {
  readonly dataset: string;
  readonly producer: string;
}

/** What the planner keeps for an open task (JSON in the task's shard, `OpenTaskInit.plan`). */
export interface OpenPlan {
  readonly batch: TaskBatch;
  readonly userDn: string;
  readonly userCaDn?: string;
  readonly userRoles?: readonly string[];
  readonly inputs: readonly OpenInput[];
}

export function encodePlan(p: OpenPlan): string {
  return JSON.stringify(p);
}

/** Read back from Redis, so checked like any input: a plan that does not hold together plans nothing. */
export function decodePlan(text: string): OpenPlan {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const inputs = raw.inputs;
  if (typeof raw.userDn !== "string" || !Array.isArray(inputs) || !inputs.every((i: unknown) => typeof (i as OpenInput)?.dataset === "string" && typeof (i as OpenInput)?.producer === "string")) {
    throw new WmsError(ERR.BAD_INPUT, "an open task's plan is malformed");
  }
  const roles = raw.userRoles;
  return {
    batch: TaskBatch.parse(raw.batch),
    userDn: raw.userDn,
    ...(typeof raw.userCaDn === "string" && { userCaDn: raw.userCaDn }),
    ...(Array.isArray(roles) && roles.every((r) => typeof r === "string") && { userRoles: roles as string[] }),
    inputs: inputs as OpenInput[],
  };
}

/** A producer has ended when it is no longer active (or gone): it adds no file after that. */
async function producersEnded(jobs: Pick<JobStore, "getTask">, inputs: readonly OpenInput[]): Promise<Array<{ status: string; ended: boolean }>> {
  const tasks = await Promise.all(inputs.map((i) => jobs.getTask(i.producer)));
  return tasks.map((t) => ({ status: t?.status ?? "gone", ended: t === undefined || t.status !== "active" }));
}

/** The open inputs' files as input-release.ts takes them, with the producers' status; the producers are read first (see the file's top). */
export async function readReleasedInputs(ctx: IntakeContext, inputs: readonly OpenInput[]): Promise<{ inputs: ReleasedInput[]; producers: Array<{ status: string }> }> {
  const ended = await producersEnded(ctx.jobs, inputs);
  const lists = await Promise.all(inputs.map((i) => ctx.catalog.listDataset(i.dataset)));
  return { inputs: inputs.map((i, n) => ({ dataset: i.dataset, files: lists[n] ?? [], ended: ended[n].ended })), producers: ended };
}

export type PlanOutcome = "gone" | "idle" | "grown" | "closed" | "conflict" | "aborted";

/** Per task, what the last pass saw: a pass that sees the same skips the full read. */
interface Seen {
  readonly files: number;
  readonly ended: string;
}

export class OpenTaskPlanner {
  private readonly seen = new Map<string, Seen>();
  private readonly plans = new Map<string, OpenPlan>();

  constructor(private readonly ctx: IntakeContext) {}

  /** One pass over every open task; returns what happened to each (for logs and tests). */
  async runOnce(): Promise<Map<string, PlanOutcome>> {
    const out = new Map<string, PlanOutcome>();
    const ids = await this.ctx.jobs.openTaskIds();
    for (const id of ids) {
      try {
        out.set(id, await this.planTask(id));
      } catch (e) {
        this.ctx.logger.error({ err: e, taskId: id }, "open task: planning failed; tried again next pass");
      }
    }
    for (const id of this.seen.keys()) if (!ids.includes(id)) this.forget(id);
    return out;
  }

  private forget(taskId: string): void {
    this.seen.delete(taskId);
    this.plans.delete(taskId);
  }

  /** Plans what the task's new input files allow, and closes it once its producers ended and every file is in a job. */
  async planTask(taskId: string): Promise<PlanOutcome> {
    const ctx = this.ctx;
    const task = await ctx.jobs.getTask(taskId);
    let plan = this.plans.get(taskId);
    if (plan === undefined && task?.open === true) {
      const text = await ctx.jobs.taskPlan(taskId);
      if (text !== undefined) this.plans.set(taskId, (plan = decodePlan(text)));
    }
    if (task?.open !== true || plan === undefined) {
      await ctx.jobs.forgetOpenTask(taskId);
      this.forget(taskId);
      return "gone";
    }
    if (task.status === "aborted") {
      const r = await ctx.jobs.growTask(taskId, task.njobs, [], { message: "cancelled by its owner while open" });
      this.forget(taskId);
      return r.outcome === "grown" ? "closed" : r.outcome;
    }
    // The cheap look first (a few small reads, however big the task): the producers' status and the
    // datasets' file counts. Unchanged since the last pass, there is nothing to plan.
    const ended = await producersEnded(ctx.jobs, plan.inputs);
    const counts = await Promise.all(plan.inputs.map((i) => ctx.catalog.fileCount(i.dataset)));
    const look: Seen = { files: counts.reduce((a, b) => a + b, 0), ended: ended.map((e) => e.status).join(",") };
    const last = this.seen.get(taskId);
    if (last !== undefined && last.files === look.files && last.ended === look.ended) return "idle";
    const consumed = await ctx.jobs.consumedFiles(taskId);
    // Read again, producers first: one that ended since the look above must be seen ended with all its files.
    const { inputs, producers } = await readReleasedInputs(ctx, plan.inputs);
    const { batch } = plan;
    const release = releaseFiles({ filesPerJob: batch.filesPerJob, jobsLeft: (batch.maxJobs ?? Infinity) - task.njobs, inputs, consumed });
    if (release.groups.length === 0 && !release.close) {
      this.seen.set(taskId, look);
      return "idle";
    }
    const input: BrokerageInput = { taskId, batch, userDn: plan.userDn, userCaDn: plan.userCaDn, userRoles: plan.userRoles, datasets: new Map(), sites: await siteLoads(ctx.sites, ctx.jobs) };
    const planned = planGroups(input, release.groups, task.njobs);
    const jobs = planned.jobs.map((j, n) => ({ ...j, spec: sealJobSpec(ctx.sealer, j.spec), consumes: release.groups[n].files.map((f) => fileId(release.groups[n].dataset, f.lfn)) }));
    const files = consumed.size + jobs.reduce((a, j) => a + j.consumes.length, 0);
    const njobs = task.njobs + jobs.length;
    const close = release.close ? closing(plan, inputs, producers, files, njobs, release.pending) : undefined;
    const r = await ctx.jobs.growTask(taskId, task.njobs, jobs, close);
    if (r.outcome !== "grown") {
      // Another planner got there first (conflict: read again next pass), or the task closed meanwhile.
      this.seen.delete(taskId);
      return r.outcome;
    }
    await this.queue(taskId, jobs);
    if (close) this.forget(taskId);
    else this.seen.set(taskId, look);
    ctx.logger.info({ taskId, jobs: jobs.length, queued: planned.queued, unbrokered: planned.unbrokered, files, closed: close !== undefined, status: r.status }, "open task: jobs planned from new input files");
    return close ? "closed" : "grown";
  }

  /** Records first (growTask), then queues, as the intake does: a matchmaker that claims a job finds it activated. */
  private async queue(taskId: string, jobs: readonly NewJob[]): Promise<void> {
    const queued: JobSpec[] = jobs.filter((j) => j.state === "activated").map((j) => j.spec);
    if (queued.length === 0) return;
    try {
      await this.ctx.dispatch.enqueue(queued);
    } catch (e) {
      await failUnqueued(this.ctx, queued, e);
      this.ctx.logger.error({ taskId, jobs: queued.length }, "open task: new jobs recorded but not queued; they are marked failed (wms task retry queues them again)");
    }
  }
}

/** Why the task closes: its producers ended (with or without files), or its job limit was reached. */
function closing(plan: OpenPlan, inputs: readonly ReleasedInput[], ended: ReadonlyArray<{ status: string }>, files: number, njobs: number, pending: number): { message: string; errorCode?: number } {
  const producers = plan.inputs.map((i, n) => `${i.producer} ended ${ended[n].status}`).join(", ");
  if (!inputs.every((i) => i.ended)) return { message: `job limit reached (maxJobs ${plan.batch.maxJobs ?? "-"}): ${files} input files consumed, ${pending} left unused` };
  if (njobs === 0) {
    const which = plan.inputs.map((i, n) => `${i.dataset} is the output of task ${i.producer}, which ended ${ended[n].status}`).join("; ");
    return { errorCode: ERR.INTAKE_INPUT_NOT_PRODUCED, message: `${which} without writing a file; nothing to run` };
  }
  return { message: `inputs complete (${producers}): ${files} input files consumed${pending > 0 ? `, ${pending} left unused (maxJobs)` : ""}` };
}

/** What `wms task status` shows of an open task (or one that was): its producers, files consumed and pending. */
export interface OpenTaskProgress {
  readonly waitingFor: ReadonlyArray<{ readonly dataset: string; readonly producer: string; readonly status: string }>;
  /** Input files in one of the task's jobs. */
  readonly consumed: number;
  /** Registered input files not in a job yet (while open: waiting to fill a job). */
  readonly pending: number;
}

export async function openTaskProgress(ctx: Pick<IntakeContext, "jobs" | "catalog">, taskId: string, planText: string): Promise<OpenTaskProgress> {
  const plan = decodePlan(planText);
  const [ended, counts, consumed] = await Promise.all([producersEnded(ctx.jobs, plan.inputs), Promise.all(plan.inputs.map((i) => ctx.catalog.fileCount(i.dataset))), ctx.jobs.consumedCount(taskId)]);
  return {
    waitingFor: plan.inputs.map((i, n) => ({ dataset: i.dataset, producer: i.producer, status: ended[n].status })),
    consumed,
    pending: Math.max(0, counts.reduce((a, b) => a + b, 0) - consumed),
  };
}

/** Runs `OpenTaskPlanner.runOnce` every `intervalMs` until stopped; a pass never overlaps the next. */
export function startOpenTaskPlanner(ctx: IntakeContext, intervalMs: number): { planner: OpenTaskPlanner; stop(): Promise<void> } {
  const planner = new OpenTaskPlanner(ctx);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const tick = (): void => {
    running = planner
      .runOnce()
      .catch((e: unknown) => ctx.logger.error({ err: e }, "open task planner: pass failed"))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);
  return {
    planner,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
