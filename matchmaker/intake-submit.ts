// Accepting a task: verify the signed batch, check role and quota, read the catalog and the sites,
// broker (brokerage.ts, pure), record every job (JobStore) and queue the brokered ones in bulk.
// A 10,000-job task is a handful of pipelined round trips: the catalog in three, the records one
// per 1,000 jobs, the queues one MULTI per 2,000 jobs.
import { ERR, WmsError, type JobSpec, type SubmitAccepted } from "../schemas/index.ts";
import { sealJobSpec, verifyTaskBatch } from "../security/index.ts";
import { planTask } from "./brokerage.ts";
import { authorizeSubmit } from "./intake-authz.ts";
import { checkOwnerCredential } from "./intake-credential-check.ts";
import { inParallel, type IntakeContext } from "./intake-context.ts";
import { siteLoads } from "./site-loads.ts";
import type { DatasetFile } from "./replica-catalog.ts";

/**
 * The input datasets with their files. A dataset that is another task's output is taken only once
 * that task is `done` (every job finished, so every output file is registered where it was written):
 * a half-made dataset would make jobs over part of the files and silently miss the rest, as JEDI
 * waits for a parent task's outputs before it defines a child's jobs.
 */
async function readDatasets(ctx: IntakeContext, names: readonly string[]): Promise<Map<string, DatasetFile[]>> {
  const [lists, producers] = await Promise.all([Promise.all(names.map((n) => ctx.catalog.listDataset(n))), Promise.all(names.map((n) => producerStatus(ctx, n)))]);
  const out = new Map<string, DatasetFile[]>();
  names.forEach((n, i) => {
    const producer = producers[i];
    if (producer !== undefined && producer.status !== "done") {
      throw new WmsError(ERR.INTAKE_DATASET_NOT_READY, `${n} is the output of task ${producer.taskId}, which is ${producer.status}; submit again when it is done (wms task status ${producer.taskId})`);
    }
    const files = lists[i];
    if (files === undefined) throw new WmsError(ERR.INTAKE_UNKNOWN_DATASET, `${n}: register it first (wms replica add / wms replica load)`);
    out.set(n, files);
  });
  return out;
}

async function producerStatus(ctx: IntakeContext, dataset: string): Promise<{ taskId: string; status: string } | undefined> {
  const taskId = await ctx.jobs.producerOf(dataset);
  if (taskId === undefined) return undefined;
  const task = await ctx.jobs.getTask(taskId);
  return task === undefined ? undefined : { taskId, status: task.status };
}

/** Task ids come from one Redis counter, so intake instances side by side never hand out the same id. */
async function nextTaskId(ctx: IntakeContext): Promise<string> {
  return `T${await ctx.redis.incr(ctx.names.redisKey("task-seq"))}`;
}

export async function submitTask(ctx: IntakeContext, signed: unknown): Promise<SubmitAccepted> {
  const now = Date.now();
  const { batch, identity, freshness } = verifyTaskBatch(signed, ctx.trust, { at: now });
  // Before anything is read or written: a captured batch submitted again is refused (RFC 4949 "replay attack").
  if (!(await ctx.nonces.isNonceNew(freshness.nonce, freshness.expiresAt))) {
    throw new WmsError(ERR.SEC_NONCE_REPLAYED, `task batch ${freshness.nonce.slice(0, 8)}… from ${identity.dn} was already received; sign it again to submit a new task`);
  }
  authorizeSubmit(batch, identity);
  const warnings = ctx.credentials ? await checkOwnerCredential(ctx.credentials, batch, identity.dn) : [];
  const over = await ctx.usage.overQuota(identity.dn, batch.group);
  if (over) {
    throw new WmsError(
      ERR.INTAKE_QUOTA_EXCEEDED,
      `${over.scope} ${over.name} has used ${over.usedHours.toFixed(2)} of its ${over.limitHours} wall-clock hours; ask the operators to raise quotas.${over.scope}s in the config`,
    );
  }
  const [datasets, sites] = await Promise.all([readDatasets(ctx, batch.inputDatasets), siteLoads(ctx.sites, ctx.jobs)]);
  const taskId = await nextTaskId(ctx);
  const planned = planTask({ taskId, batch, userDn: identity.dn, userCaDn: identity.caDn, userRoles: identity.roles, datasets, sites });
  // Sealed before the records and queues see them: the matchmaker signs no envelope for a spec without a valid seal.
  const plan = { ...planned, jobs: planned.jobs.map((j) => ({ ...j, spec: sealJobSpec(ctx.sealer, j.spec) })) };
  const holder = await ctx.jobs.claimTaskName(identity.dn, batch.taskName, taskId, batch.allowDuplicate === true);
  if (holder !== undefined) {
    throw new WmsError(ERR.INTAKE_DUPLICATE_TASK, `you already have task ${holder} named ${batch.taskName}; rename this one or submit it with --allow-duplicate`);
  }
  try {
    await ctx.jobs.createTask(
      { taskId, taskName: batch.taskName, kind: batch.kind, vo: batch.vo, group: batch.group, ownerDn: identity.dn, priority: batch.priority, maxAttempts: batch.maxAttempts, outputDataset: batch.outputDataset },
      plan.jobs,
    );
  } catch (e) {
    await ctx.jobs.releaseTaskName(identity.dn, batch.taskName, taskId);
    throw e;
  }
  // Records first, then queues: a matchmaker that claims a job must find it `activated`.
  const queued = plan.jobs.filter((j) => j.state === "activated").map((j) => j.spec);
  try {
    await ctx.dispatch.enqueue(queued);
  } catch (e) {
    await failUnqueued(ctx, queued, e);
    throw new WmsError(ERR.SERVICE_UNAVAILABLE, `task ${taskId} was recorded but its jobs could not be queued (${(e as Error).message}); they are marked failed, retry it with wms task retry ${taskId}`);
  }
  ctx.logger.info({ taskId, owner: identity.dn, jobs: plan.jobs.length, queued: plan.queued, unbrokered: plan.unbrokered }, "task accepted");
  return { schemaVersion: 1, status: "ok", taskId, jobs: plan.jobs.length, queued: plan.queued, unbrokered: plan.unbrokered, sites: plan.sites, ...(warnings.length > 0 && { warnings }) };
}

/** Queueing broke half-way: take back what reached a queue and fail the rest, so no record claims a queue entry that is not there. */
async function failUnqueued(ctx: IntakeContext, specs: readonly JobSpec[], cause: unknown): Promise<void> {
  ctx.logger.error({ err: cause, jobs: specs.length }, "enqueue failed; failing the task's queued jobs");
  await inParallel(specs, 64, async (s) => {
    try {
      await ctx.dispatch.remove(s.jobId);
      await ctx.jobs.transition(s.jobId, "failed", ["activated"], { errorCode: ERR.SERVICE_UNAVAILABLE, errorMessage: "the job could not be queued" });
    } catch (e) {
      ctx.logger.error({ err: e, jobId: s.jobId }, "could not fail an unqueued job");
    }
  });
}
