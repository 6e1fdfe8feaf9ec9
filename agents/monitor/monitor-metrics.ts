// Prometheus view of the system state held in Redis, collected on each scrape (so a scrape is
// always current and the monitor keeps no counters of its own that could drift). Service-level
// counters (matches/s, advert latency, reports consumed) live in prom-client's default registry
// in each service process; `metricsText` serves both.
import { Gauge, Registry, register as defaultRegistry } from "prom-client";
import { JOB_STATES } from "../../matchmaker/job-store.ts";
import type { MonitorData } from "./monitor-data.ts";

export function createMonitorRegistry(data: MonitorData): Registry {
  const registry = new Registry();
  new Gauge({
    name: "wms_jobs",
    help: "Jobs by state over the newest tasks",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const totals = await data.totals();
      for (const s of JOB_STATES) this.set({ state: s }, totals[s]);
    },
  });
  new Gauge({
    name: "wms_site_jobs",
    help: "Jobs by site and state (activated = queued at the site)",
    labelNames: ["site", "state"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const site of await data.sites()) for (const s of JOB_STATES) this.set({ site: site.site, state: s }, site.counts[s]);
    },
  });
  new Gauge({
    name: "wms_pilots",
    help: "Pilots by site and state, from the factory census",
    labelNames: ["site", "state"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await data.pilots()) this.set({ site: row.site, state: row.state }, row.count);
    },
  });
  new Gauge({
    name: "wms_job_failures",
    help: "Failed jobs by error code (cumulative, from the job records)",
    labelNames: ["code", "name"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const e of await data.errors()) this.set({ code: String(e.code), name: e.name }, e.count);
    },
  });
  new Gauge({
    name: "wms_tasks",
    help: "Tasks by status",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      this.reset();
      const by: Record<string, number> = {};
      for (const t of await data.tasks(1000)) by[t.status] = (by[t.status] ?? 0) + 1;
      for (const [status, n] of Object.entries(by)) this.set({ status }, n);
    },
  });
  return registry;
}

export async function metricsText(own: Registry): Promise<{ contentType: string; body: string }> {
  const merged = Registry.merge([defaultRegistry, own]);
  return { contentType: merged.contentType, body: await merged.metrics() };
}
