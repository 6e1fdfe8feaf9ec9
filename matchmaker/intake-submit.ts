// Accepting a task: verify the signed batch, check role and quota, read the catalog and the sites,
// broker (brokerage.ts, pure), record every job (JobStore) and queue the brokered ones in bulk.
// A 10,000-job task is a handful of pipelined round trips: the catalog in three, the records one
// per 1,000 jobs, the queues one MULTI per 2,000 jobs.
import { ERR, WmsError, type SubmitAccepted, type TaskBatch } from "../schemas/index.ts";
import { sealJobSpec, verifyTaskBatch } from "../security/index.ts";
import type { OpenTaskInit } from "../jobs/index.ts";
import { checkBatch, planGroups, planTask, splitIntoJobs, taskSpecPrototype, type BrokerageInput, type BrokeragePlan } from "./brokerage.ts";
import { fileId, releaseFiles } from "./input-release.ts";
import { encodePlan, type OpenInput } from "./open-task-planner.ts";
import { authorizeSubmit } from "./intake-authz.ts";
import { checkOwnerCredential } from "./intake-credential-check.ts";
import { failUnqueued, type IntakeContext } from "./intake-context.ts";
import { siteLoads } from "./site-loads.ts";
import type { DatasetFile } from "./replica-catalog.ts";

/** The batch's inputs: datasets read whole, and those another task is still writing (an open task's). */
interface Inputs {
  readonly datasets: Map<string, DatasetFile[]>;
  readonly open: ReadonlyArray<OpenInput & { readonly files: readonly DatasetFile[] }>;
}

/**
 * The input datasets with their files. A dataset that another task writes while it still runs is
 * an open input with `inputRelease: files` (the default): the task is accepted and gets jobs as the
 * producer's outputs are registered (open-task-planner.ts). With `inputRelease: done` it is taken
 * only once that task is `done` (every job finished, so every output is registered): a half-made
 * dataset read whole would make jobs over part of the files and silently miss the rest, so JEDI
 * waits for a parent task's outputs unless it generates the child's jobs incrementally.
 * The producers are read before the catalog: a producer seen ended has all its files in what is read after.
 */
async function readDatasets(ctx: IntakeContext, batch: TaskBatch): Promise<Inputs> {
  const names = batch.inputDatasets;
  const producers = await Promise.all(names.map((n) => producerStatus(ctx, n)));
  const lists = await Promise.all(names.map((n) => ctx.catalog.listDataset(n)));
  const byFiles = (batch.inputRelease ?? "files") === "files";
  const datasets = new Map<string, DatasetFile[]>();
  const open: Array<OpenInput & { files: readonly DatasetFile[] }> = [];
  names.forEach((n, i) => {
    const producer = producers[i];
    const files = lists[i];
    if (producer !== undefined && producer.status === "active" && byFiles) {
      open.push({ dataset: n, producer: producer.taskId, files: files ?? [] });
      return;
    }
    if (producer !== undefined && producer.status !== "done" && !byFiles) {
      throw new WmsError(ERR.INTAKE_DATASET_NOT_READY, `${n} is the output of task ${producer.taskId}, which is ${producer.status}; submit again when it is done (wms task status ${producer.taskId}), or with inputRelease: files to take its files as they come`);
    }
    if (producer !== undefined && (files === undefined || files.length === 0)) {
      throw new WmsError(ERR.INTAKE_INPUT_NOT_PRODUCED, `${n} is the output of task ${producer.taskId}, which ended ${producer.status} without writing a file; nothing to run`);
    }
    if (files === undefined) throw new WmsError(ERR.INTAKE_UNKNOWN_DATASET, `${n}: register it first (wms replica add / wms replica load)`);
    datasets.set(n, files);
  });
  return { datasets, open };
}

/**
 * The jobs of a task with open inputs: every file of its other datasets, and the full groups of
 * the producers' files registered so far (input-release.ts). Open unless the job limit is reached.
 */
function planOpenTask(input: BrokerageInput, inputs: Inputs): { plan: BrokeragePlan; consumed: string[]; open: boolean } {
  const { batch } = input;
  checkBatch(batch);
  const whole = splitIntoJobs({ ...batch, inputDatasets: batch.inputDatasets.filter((n) => inputs.datasets.has(n)) }, inputs.datasets);
  const release = releaseFiles({
    filesPerJob: batch.filesPerJob,
    jobsLeft: (batch.maxJobs ?? Infinity) - whole.length,
    inputs: inputs.open.map((o) => ({ dataset: o.dataset, files: o.files, ended: false })),
    consumed: new Set(),
  });
  const plan = planGroups(input, [...whole, ...release.groups], 0);
  return { plan, consumed: release.groups.flatMap((g) => g.files.map((f) => fileId(g.dataset, f.lfn))), open: !release.close };
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

function duplicateTask(holder: string, taskName: string): WmsError {
  return new WmsError(ERR.INTAKE_DUPLICATE_TASK, `you already have task ${holder} named ${taskName}`);
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
  const [inputs, sites] = await Promise.all([readDatasets(ctx, batch), siteLoads(ctx.sites, ctx.jobs)]);
  // Refused before an id is drawn, which a refusal would leave as a gap in the task numbers; the
  // claim below still decides between two submissions of one name at once.
  const taken = batch.allowDuplicate === true ? undefined : await ctx.jobs.taskNameHolder(identity.dn, batch.taskName);
  if (taken !== undefined) throw duplicateTask(taken, batch.taskName);
  const taskId = await nextTaskId(ctx);
  const input: BrokerageInput = { taskId, batch, userDn: identity.dn, userCaDn: identity.caDn, userRoles: identity.roles, datasets: inputs.datasets, sites };
  let planned: BrokeragePlan;
  let open: OpenTaskInit | undefined;
  if (inputs.open.length === 0) planned = planTask(input);
  else {
    const o = planOpenTask(input, inputs);
    planned = o.plan;
    const plan = encodePlan({ batch, userDn: identity.dn, userCaDn: identity.caDn, userRoles: identity.roles, inputs: inputs.open.map((i) => ({ dataset: i.dataset, producer: i.producer })) });
    if (o.open) open = { plan, consumed: o.consumed, prototype: taskSpecPrototype(input) };
  }
  // Sealed before the records and queues see them: the matchmaker signs no envelope for a spec without a valid seal.
  const plan = { ...planned, jobs: planned.jobs.map((j) => ({ ...j, spec: sealJobSpec(ctx.sealer, j.spec) })) };
  const holder = await ctx.jobs.claimTaskName(identity.dn, batch.taskName, taskId, batch.allowDuplicate === true);
  if (holder !== undefined) throw duplicateTask(holder, batch.taskName);
  try {
    await ctx.jobs.createTask(
      { taskId, taskName: batch.taskName, kind: batch.kind, vo: batch.vo, group: batch.group, ownerDn: identity.dn, priority: batch.priority, maxAttempts: batch.maxAttempts, outputDataset: batch.outputDataset },
      plan.jobs,
      now,
      open,
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
  const waitingFor = open ? [...new Set(inputs.open.map((i) => i.producer))] : [];
  ctx.logger.info({ taskId, owner: identity.dn, jobs: plan.jobs.length, queued: plan.queued, unbrokered: plan.unbrokered, waitingFor }, "task accepted");
  return { schemaVersion: 1, status: "ok", taskId, jobs: plan.jobs.length, queued: plan.queued, unbrokered: plan.unbrokered, sites: plan.sites, ...(waitingFor.length > 0 && { waitingFor }), ...(warnings.length > 0 && { warnings }) };
}
