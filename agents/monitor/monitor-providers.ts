// Plugs the sources other parts own into the monitor: the factory's per-queue status (rates,
// census), the accounting usage tables. Each is read through its owner's store.
import type { RedisClient } from "../../platform/redis-client.ts";
import type { WireNames, WmsConfig } from "../../schemas/index.ts";
import { readFactoryStatus } from "../../pilot-factory/index.ts";
import { UsageStore } from "../accounting/index.ts";
import { ReplicaCatalogStore } from "../../matchmaker/replica-catalog.ts";
import { SiteRegistry } from "../../matchmaker/site-registry.ts";
import { errorEntry } from "../../schemas/index.ts";
import { formatJobLog, JobLogStore } from "../job-logs/index.ts";
import type { AttemptView, FactoryQueueView, MonitorProviders, PilotCensusRow } from "./monitor-data.ts";

export async function defaultProviders(deps: { redis: RedisClient; names: WireNames; config: WmsConfig }): Promise<MonitorProviders> {
  const usage = new UsageStore(deps.redis, deps.names, deps.config.quotas);
  const factory = async (): Promise<FactoryQueueView[]> => {
    const { queues } = await readFactoryStatus(deps.redis, deps.names);
    return queues.map((q) => ({
      queue: `${q.factoryId}/${q.queue}`,
      site: q.site,
      submitted: q.submitted,
      pending: q.pending,
      idle: q.idle,
      running: q.running,
      exited: q.exited,
      emptyPilots: q.emptyPilots,
      ratePerMin: q.ratePerMin,
      targetPerMin: q.targetPerMin,
      missed: q.lost,
      activatedJobs: q.waitingJobs,
      ...(q.breaker ? { breaker: { state: q.breaker.state, failures: q.breaker.failures, ...(q.breaker.retryAt !== undefined ? { retryAt: q.breaker.retryAt } : {}), ...(q.breaker.reason ? { reason: q.breaker.reason } : {}) } } : {}),
      ...(q.lastError ? { lastError: q.lastError } : {}),
    }));
  };
  const catalog = new ReplicaCatalogStore(deps.redis, deps.names);
  const registry = new SiteRegistry(deps.redis, deps.names);
  const logs = new JobLogStore(deps.redis, deps.names);
  return {
    factory,
    async attempts(jobId): Promise<AttemptView[]> {
      const out: AttemptView[] = [];
      for (const n of await logs.attempts(jobId)) {
        // A record that no longer validates (another version wrote it) is left out, not a page error.
        const r = await logs.get(jobId, n).catch(() => undefined);
        if (!r) continue;
        out.push({
          attempt: r.attempt,
          site: r.site,
          pilotId: r.pilotId,
          ...(r.errorCode !== undefined ? { errorCode: r.errorCode, errorName: errorEntry(r.errorCode)?.name } : {}),
          at: r.at,
          logUrl: `/api/jobs/${encodeURIComponent(jobId)}/log?attempt=${r.attempt}`,
        });
      }
      return out;
    },
    async jobLogText(jobId, attempt) {
      const r = await logs.get(jobId, attempt);
      return r ? formatJobLog(r, await logs.attempts(jobId)) : undefined;
    },
    filesHeld: (site) => catalog.filesHeld(site),
    async sites() {
      return (await registry.list()).map((s) => s.name).sort();
    },
    async pilots(): Promise<PilotCensusRow[]> {
      const rows = new Map<string, number>();
      for (const q of await factory()) {
        for (const state of ["pending", "idle", "running", "exited"] as const) {
          const key = `${q.site}\u0000${state}`;
          rows.set(key, (rows.get(key) ?? 0) + q[state]);
        }
      }
      return [...rows].filter(([, n]) => n > 0).map(([k, count]) => {
        const [site, state] = k.split("\u0000");
        return { site, state, count };
      });
    },
    async usage(by) {
      return (await usage.list(by)).sort((a, b) => b.wallSec - a.wallSec).map((u) => ({ name: u.name, jobs: u.jobs, wallSec: u.wallSec, cpuSec: u.cpuSec, maxRssKb: u.maxRssKb }));
    },
  };
}
