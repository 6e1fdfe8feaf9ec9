// Chooses the site for a retried job: the intake's data-local brokerage (matchmaker/brokerage.ts)
// over today's replicas and sites, so a retry goes where the inputs are now. When no online site
// holds them (or no sites are published), the job keeps its site: a retry that waits there for a
// pilot is better than a job failed by the agent for a reason the operator may fix in a minute.
import type { RedisClient } from "../../platform/redis-client.ts";
import type { Logger } from "pino";
import type { JobSpec, WireNames } from "../../schemas/index.ts";
import { JobStore } from "../../jobs/index.ts";
import { ReplicaCatalogStore, SiteRegistry, SitePicker, rebrokerJob, siteLoads } from "../../matchmaker/index.ts";

/** Returns the spec of the next attempt: attempt + 1, site chosen afresh. */
export type Rebroker = (spec: JobSpec, attempt: number) => Promise<JobSpec>;

export function sameSiteRebroker(): Rebroker {
  return async (spec, attempt) => ({ ...spec, attempt: attempt + 1, maxAttempts: Math.max(spec.maxAttempts, attempt + 1) });
}

export function dataLocalRebroker(redis: RedisClient, names: WireNames, logger: Logger): Rebroker {
  const catalog = new ReplicaCatalogStore(redis, names);
  const sites = new SiteRegistry(redis, names);
  const jobs = new JobStore(redis, names);
  const fallback = sameSiteRebroker();
  return async (spec, attempt) => {
    if (spec.inputFiles.length === 0) return fallback(spec, attempt);
    const loads = await siteLoads(sites, jobs);
    if (loads.length === 0) return fallback(spec, attempt);
    const fileSites = new Map<string, string[]>();
    const byDataset = new Map<string, string[]>();
    for (const f of spec.inputFiles) byDataset.set(f.dataset, [...(byDataset.get(f.dataset) ?? []), f.lfn]);
    for (const [ds, lfns] of byDataset) for (const [lfn, at] of await catalog.sitesHolding(ds, lfns)) fileSites.set(`${ds}\n${lfn}`, at);
    const r = rebrokerJob(spec, attempt, fileSites, new SitePicker(loads));
    if ("spec" in r) return r.spec;
    logger.warn({ jobId: spec.jobId, site: spec.site, problem: r.problem }, "retry keeps the job's site: no other online site holds its inputs");
    return fallback(spec, attempt);
  };
}
