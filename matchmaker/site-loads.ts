// What brokerage weighs: each published site with the jobs already queued or running there. The
// intake (first brokerage, task retries) and the job-state agent (automatic retries) call it, so a
// job is weighed the same way whoever places it.
import type { SiteLoad } from "./brokerage.ts";
import type { JobStore } from "../jobs/index.ts";
import type { SiteRegistry } from "./site-registry.ts";

const BUSY_STATES = ["activated", "sent", "starting", "running"] as const;

/** The published sites with the jobs already queued or running at each. */
export async function siteLoads(registry: SiteRegistry, jobs: JobStore): Promise<SiteLoad[]> {
  const sites = await registry.list();
  const counts = await Promise.all(sites.map((s) => jobs.siteCounts(s.name)));
  return sites.map((s, i) => ({ name: s.name, online: s.online, capacity: s.capacity, load: BUSY_STATES.reduce((n, st) => n + counts[i][st], 0) }));
}
