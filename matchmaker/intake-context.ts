// What the intake's handlers share: the stores it reads and writes and the dispatch queues it
// feeds, built once per service from the connections passed in.
import type { RedisClient } from "../platform/redis-client.ts";
import { UsageStore } from "../agents/accounting/index.ts";
import type { Logger } from "../platform/logger.ts";
import { ERR, type JobSpec, type WireNames, type WmsConfig } from "../schemas/index.ts";
import { JOB_SPEC_SEAL_PURPOSE, NonceStore, openSealer, ServiceSealer, type SealKeyring, type TrustStore } from "../security/index.ts";
import type { OwnerCredentialLookup } from "./intake-credential-check.ts";
import { JobStore } from "../jobs/index.ts";
import { ReplicaCatalogStore } from "./replica-catalog.ts";
import { SiteRegistry } from "./site-registry.ts";

/** The part of DispatchQueues (dispatch-queues.ts) the intake uses. */
export interface TaskDispatch {
  enqueue(specs: readonly JobSpec[]): Promise<void>;
  remove(jobId: string): Promise<boolean>;
}

export interface IntakeDeps {
  readonly redis: RedisClient;
  readonly names: WireNames;
  readonly config: WmsConfig;
  readonly trust: TrustStore;
  readonly dispatch: TaskDispatch;
  readonly logger: Logger;
  /** The credential cache, asked whether a task's owner has a credential its jobs can use; without it, no check. */
  readonly credentials?: OwnerCredentialLookup;
  /** The job-spec seal keys the intake seals every queued spec with; default: the key file config.pki names. */
  readonly specSealKeys?: SealKeyring;
  /** How often the open tasks' planner looks for new input files (open-task-planner.ts; default 2 s, 0: never). */
  readonly openTaskPollMs?: number;
}

export interface IntakeContext extends IntakeDeps {
  readonly jobs: JobStore;
  readonly catalog: ReplicaCatalogStore;
  readonly sites: SiteRegistry;
  readonly usage: UsageStore;
  readonly nonces: NonceStore;
  readonly sealer: ServiceSealer;
}

export function createIntakeContext(deps: IntakeDeps): IntakeContext {
  return {
    ...deps,
    jobs: new JobStore(deps.redis, deps.names),
    catalog: new ReplicaCatalogStore(deps.redis, deps.names),
    sites: new SiteRegistry(deps.redis, deps.names),
    usage: new UsageStore(deps.redis, deps.names, deps.config.quotas),
    nonces: new NonceStore(deps.redis, deps.names),
    sealer: deps.specSealKeys ? new ServiceSealer(deps.specSealKeys, JOB_SPEC_SEAL_PURPOSE) : openSealer(deps.config.pki, JOB_SPEC_SEAL_PURPOSE),
  };
}

/** Runs `fn` over `items` with at most `width` in flight: enough to fill a pipeline, not a 10,000-promise burst. */
export async function inParallel<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, run));
}

/** Queueing broke half-way: take back what reached a queue and fail the rest, so no record claims a queue entry that is not there. */
export async function failUnqueued(ctx: IntakeContext, specs: readonly JobSpec[], cause: unknown): Promise<void> {
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
