// Prometheus view of the system state held in Redis, collected on each scrape (so a scrape is
// always current and the monitor keeps no counters of its own that could drift). Service-level
// counters (matches/s, advert latency, reports consumed) live in prom-client's default registry
// in each service process; `metricsText` serves both.
import { Counter, Gauge, Registry, register as defaultRegistry } from "prom-client";
import { JOB_STATES } from "../../jobs/index.ts";
import type { FactoryQueueView, MonitorData } from "./monitor-data.ts";

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
  // Cumulative in the sites' failure counters (JobStore.errorCounts: a job retried and failed
  // again counts twice), so a counter (Prometheus naming: `_total`); rate() over it is failures
  // per second by code. Set from Redis at each scrape, never counted here.
  new Counter({
    name: "wms_job_failures_total",
    help: "Job failures by error code (cumulative: a job failed again after a retry counts again)",
    labelNames: ["code", "name"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const e of await data.errors()) this.inc({ code: String(e.code), name: e.name }, e.count);
    },
  });
  new Counter({
    name: "wms_reports_refused_total",
    help: "Reports the agents refused and dead-lettered: 1722 forged or unsigned, 1904 stale (cumulative, from Redis)",
    labelNames: ["kind", "code"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await data.refusedReports()) this.inc({ kind: r.kind, code: String(r.code) }, r.count);
    },
  });
  new Counter({
    name: "wms_factory_control_refused_total",
    help: "Factory control requests (wms factory set) the factory refused, by code: 1723 unsigned or not an operator, 1706 replayed, 1720 expired, 1702 bad signature, 1715 revoked (cumulative, from Redis)",
    labelNames: ["code"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await data.refusedFactoryControls()) this.inc({ code: String(r.code) }, r.count);
    },
  });
  new Counter({
    name: "wms_pool_lease_refused_total",
    help: "Pool-account lease and release requests the pool-lease service refused, by code: 1808 not signed by the pilot holding a live attempt of the DN's job at the site, 1706 replayed, 1720 expired (cumulative, from Redis)",
    labelNames: ["code"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await data.refusedPoolLeases()) this.inc({ code: String(r.code) }, r.count);
    },
  });
  // The report pipeline's depth, as the agents last sampled it (agents/reports/queue-depth.ts);
  // absent while no agents run. Labels by role: job-state, errors, accounting, audit, logs, dead-letter.
  const queueRole = (q: string): string => (q === "jobState" ? "job-state" : q === "deadLetter" ? "dead-letter" : q);
  new Gauge({
    name: "wms_report_queue_messages",
    help: "Reports waiting in each RabbitMQ report queue (ready, not yet taken by an agent); queue=\"dead-letter\" holds the dead letters",
    labelNames: ["queue"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of await data.reportQueues()) this.set({ queue: queueRole(d.queue) }, d.messages);
    },
  });
  new Gauge({
    name: "wms_report_queue_consumers",
    help: "Consumers (agents) reading each RabbitMQ report queue",
    labelNames: ["queue"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of await data.reportQueues()) this.set({ queue: queueRole(d.queue) }, d.consumers);
    },
  });
  new Gauge({
    name: "wms_dead_letter_messages",
    help: "Reports in the dead-letter queue: refused or failed for good, kept for an operator to read",
    registers: [registry],
    async collect() {
      this.reset();
      const d = (await data.reportQueues()).find((q) => q.queue === "deadLetter");
      if (d) this.set(d.messages);
    },
  });
  const queueLabels = ["queue", "site"] as const;
  const queueGauge = (name: string, help: string, value: (q: FactoryQueueView) => number | undefined): void => {
    new Gauge({
      name,
      help,
      labelNames: queueLabels,
      registers: [registry],
      async collect() {
        this.reset();
        for (const q of await data.factory()) {
          const v = value(q);
          if (v !== undefined) this.set({ queue: q.queue, site: q.site }, v);
        }
      },
    });
  };
  const queueCounter = (name: string, help: string, labelNames: readonly string[], values: (q: FactoryQueueView) => Array<[Record<string, string>, number]>): void => {
    new Counter({
      name,
      help,
      labelNames: [...queueLabels, ...labelNames],
      registers: [registry],
      async collect() {
        this.reset();
        for (const q of await data.factory()) for (const [labels, v] of values(q)) if (v > 0) this.inc({ queue: q.queue, site: q.site, ...labels }, v);
      },
    });
  };
  new Gauge({
    name: "wms_factory_pilots",
    help: "Pilots of each factory queue by state (pending = submitted, not yet heard from)",
    labelNames: [...queueLabels, "state"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of await data.factory()) for (const state of ["pending", "idle", "running"] as const) this.set({ queue: q.queue, site: q.site, state }, q[state]);
    },
  });
  queueCounter("wms_factory_pilots_submitted_total", "Pilots the batch system accepted, per factory queue", [], (q) => [[{}, q.submitted]]);
  queueCounter("wms_factory_pilots_exited_total", "Pilots gone, per factory queue, by outcome: finished (ran jobs), empty (found none), missed (gone without an exit census)", ["outcome"], (q) => {
    const missed = q.missed ?? 0;
    return [
      [{ outcome: "finished" }, Math.max(0, q.exited - q.emptyPilots - missed)],
      [{ outcome: "empty" }, q.emptyPilots],
      [{ outcome: "missed" }, missed],
    ];
  });
  queueGauge("wms_factory_submit_rate_per_minute", "Pilots submitted in the last minute, per factory queue", (q) => q.ratePerMin);
  queueGauge("wms_factory_target_rate_per_minute", "The queue's pilotsPerMinute knob", (q) => q.targetPerMin);
  queueGauge("wms_factory_activated_jobs", "Activated jobs the queue's pilots could run, as the factory last read them", (q) => q.activatedJobs);
  queueGauge("wms_factory_breaker_open", "1 while the queue's circuit breaker stops submissions (open or a trial pilot out), else 0", (q) => (q.breaker ? (q.breaker.state === "closed" ? 0 : 1) : undefined));
  queueGauge("wms_factory_breaker_failures", "Consecutive failed or missed submissions of the queue", (q) => q.breaker?.failures);
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
