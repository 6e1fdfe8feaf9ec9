// Cancel and retry of a submitted task, on a signed request from its owner or a production manager
// of its VO. Cancel: queued jobs leave their queues and every unfinished job is marked cancelled
// (a running job's pilot learns it at its next heartbeat). Retry: failed jobs only, re-brokered on
// today's replicas and sites, attempt + 1, queued again.
import { ERR, WmsError, type ControlDone, type JobSpec } from "../schemas/index.ts";
import { rebrokerJob, SitePicker } from "./brokerage.ts";
import { authorizeTaskControl } from "./intake-authz.ts";
import { inParallel, type IntakeContext } from "./intake-context.ts";
import { siteLoads } from "./site-loads.ts";
import type { JobRecord, JobState, TaskRecord } from "../jobs/index.ts";
import { verifyTaskControl } from "./task-control.ts";

const UNFINISHED: readonly JobState[] = ["defined", "activated", "sent", "starting", "running"];

export async function controlTask(ctx: IntakeContext, signed: unknown, now = Date.now()): Promise<ControlDone> {
  const { control, identity } = verifyTaskControl(signed, ctx.trust, now);
  // Remembered past the last moment the request is fresh enough to be accepted.
  if (!(await ctx.nonces.isNonceNew(control.nonce, control.expiresAt))) throw new WmsError(ERR.SEC_NONCE_REPLAYED, `task control request ${control.nonce} was already received; sign a new request`);
  const task = await ctx.jobs.getTask(control.taskId);
  if (!task) throw new WmsError(ERR.NOT_FOUND, `no task ${control.taskId}; see wms task list`);
  authorizeTaskControl(task, identity, control.action);
  const result = control.action === "cancel" ? await cancel(ctx, task, identity.dn) : await retry(ctx, task);
  ctx.logger.info({ taskId: task.taskId, action: control.action, by: identity.dn, ...result }, "task control");
  return { schemaVersion: 1, status: "ok", taskId: task.taskId, action: control.action, ...result };
}

async function cancel(ctx: IntakeContext, task: TaskRecord, by: string): Promise<{ affected: number; skipped: number }> {
  if (task.status !== "active") throw new WmsError(ERR.INTAKE_TASK_FINAL, `task ${task.taskId} is ${task.status}; there is nothing left to cancel`);
  // An open task's planner may add jobs meanwhile: aborted first, so none is added after the list
  // below is read (the planner's step refuses an aborted task and closes it).
  if (task.open === true) await ctx.jobs.setTaskStatus(task.taskId, "aborted");
  const jobs = (await ctx.jobs.listJobs(task.taskId)).filter((j) => UNFINISHED.includes(j.state));
  let affected = 0;
  await inParallel(jobs, 128, async (j) => {
    // Off the queue first; if a matchmaker claimed it meanwhile, the record still says cancelled and
    // the pilot is told at its next heartbeat.
    if (j.state === "activated") await ctx.dispatch.remove(j.jobId);
    const r = await ctx.jobs.transition(j.jobId, "cancelled", UNFINISHED, { errorMessage: `cancelled by ${by}` });
    if (r.moved) affected += 1;
  });
  await ctx.jobs.setTaskStatus(task.taskId, "aborted");
  return { affected, skipped: 0 };
}

async function retry(ctx: IntakeContext, task: TaskRecord): Promise<{ affected: number; skipped: number }> {
  if (task.status === "aborted") throw new WmsError(ERR.INTAKE_TASK_FINAL, `task ${task.taskId} was cancelled; submit it again instead`);
  const failed = await ctx.jobs.listJobs(task.taskId, { state: "failed" });
  if (failed.length === 0) return { affected: 0, skipped: 0 };
  const [fileSites, sites] = await Promise.all([replicasOf(ctx, failed), siteLoads(ctx.sites, ctx.jobs)]);
  const picker = new SitePicker(sites);
  const next: JobSpec[] = [];
  let skipped = 0;
  for (const j of failed) {
    const r = rebrokerJob(j.spec, j.attempt, fileSites, picker);
    if ("spec" in r) next.push(r.spec);
    else skipped += 1;
  }
  // Records move `failed → activated` before the jobs reach a queue, so a claim finds them activated;
  // a job retried by someone else meanwhile does not move and is not queued twice.
  const moved: JobSpec[] = [];
  await inParallel(next, 64, async (spec) => {
    const r = await ctx.jobs.reopen(spec.jobId, { site: spec.site, attempt: spec.attempt, spec, pilotId: "", leaseToken: "" });
    if (r.moved) moved.push(spec);
  });
  try {
    await ctx.dispatch.enqueue(moved);
  } catch (e) {
    await inParallel(moved, 64, async (s) => {
      await ctx.dispatch.remove(s.jobId);
      await ctx.jobs.transition(s.jobId, "failed", ["activated"], { errorCode: ERR.SERVICE_UNAVAILABLE, errorMessage: "the retried job could not be queued" });
    });
    throw new WmsError(ERR.SERVICE_UNAVAILABLE, `the retried jobs of ${task.taskId} could not be queued (${(e as Error).message}); try again`);
  }
  return { affected: moved.length, skipped: skipped + next.length - moved.length };
}

/** `dataset\nlfn` → sites, for every input of the given jobs: one catalog query per dataset. */
async function replicasOf(ctx: IntakeContext, jobs: readonly JobRecord[]): Promise<Map<string, string[]>> {
  const byDataset = new Map<string, Set<string>>();
  for (const j of jobs) {
    for (const f of j.spec.inputFiles) {
      const set = byDataset.get(f.dataset);
      if (set) set.add(f.lfn);
      else byDataset.set(f.dataset, new Set([f.lfn]));
    }
  }
  const out = new Map<string, string[]>();
  await Promise.all(
    [...byDataset].map(async ([ds, lfns]) => {
      for (const [lfn, sites] of await ctx.catalog.sitesHolding(ds, [...lfns])) out.set(`${ds}\n${lfn}`, sites);
    }),
  );
  return out;
}
