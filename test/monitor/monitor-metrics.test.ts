import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Histogram, register as defaultRegistry } from "prom-client";
import { JobStore } from "../../jobs/index.ts";
import { startMonitor, type RunningMonitor } from "../../agents/monitor/monitor-server.ts";
import { defaultProviders } from "../../agents/monitor/monitor-providers.ts";
import { writeQueueStatus } from "../../pilot-factory/index.ts";
import { ERR, SCHEMA_VERSION, type JobSpec } from "../../schemas/index.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole } from "../support/test-roles.ts";
import { openRedisAs } from "../support/live-services.ts";
import { openRedis } from "../../platform/connections.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { parsePrometheusFamilies } from "../support/prometheus-text.ts";
import { queueKnobs } from "../pilot-factory/factory-fixture.ts";
import { connectRabbit } from "../../platform/connections.ts";
import { declareTopology, deleteTopology, QueueDepthSampler, routingKeyFor } from "../../agents/reports/index.ts";
import { createLogger } from "../../platform/logger.ts";

// The fixtures are written as the agents write them; the monitor reads on its own read-only identity.
const loaded = testConfig("monmetrics");
const { names } = loaded;
const config = asRole(loaded, "monitor").config;
/** The report pipeline (its topology, the agents' queue-depth sampler) is the agents'. */
const agents = asRole(loaded, "agents").config;
const redis = openRedisAs(loaded, "agents");
const monitorRedis = openRedis(config);
const store = new JobStore(redis, names);
const OWNER = "/DC=org/DC=pilot-wms/CN=Metrics Tester";
let monitor: RunningMonitor;
// A histogram in the default registry, as a matchmaker in the same process registers its latency.
const latency = new Histogram({ name: "wms_test_monitor_latency_seconds", help: "test", buckets: [0.001, 0.01, 0.1], registers: [defaultRegistry] });

function spec(i: number): JobSpec {
  return {
    schemaVersion: 1, jobId: `MM1.${String(i).padStart(6, "0")}`, taskId: "MM1", taskName: "metrics.test", kind: "production", vo: "atlas", group: "",
    userDn: OWNER, priority: 10, site: "SITE_A", executable: "/bin/true", arguments: [], environment: {}, requirements: "true", rank: "0",
    cores: 1, memoryMb: 100, walltimeSec: 60, inputFiles: [], outputDataset: "o", attempt: 1, maxAttempts: 3,
  };
}

beforeAll(async () => {
  await store.createTask(
    { taskId: "MM1", taskName: "metrics.test", kind: "production", vo: "atlas", group: "", ownerDn: OWNER, priority: 10, maxAttempts: 3, outputDataset: "o" },
    Array.from({ length: 4 }, (_, i) => ({ spec: spec(i), state: "activated" as const })),
  );
  await store.transition("MM1.000000", "failed", ["activated"], { errorCode: ERR.PAYLOAD_FAILED, errorMessage: "payload exited with code 2" });
  await store.transition("MM1.000001", "failed", ["activated"], { errorCode: ERR.PAYLOAD_FAILED, errorMessage: "payload exited with code 1" });
  await writeQueueStatus(redis, names, {
    schemaVersion: SCHEMA_VERSION, factoryId: "fac-m", queue: "siteA-local", site: "SITE_A", adapter: "condor",
    submitted: 12, pending: 1, idle: 2, running: 3, exited: 6, emptyPilots: 2, lost: 1, waitingJobs: 9, ratePerMin: 4, targetPerMin: 30, lastCycleSubmitted: 0,
    breaker: { state: "open", failures: 3, backoffSec: 20, retryAt: Date.now() + 20_000, reason: { code: ERR.FACTORY_SUBMIT_FAILED, message: "condor_submit: no schedd" } },
    knobs: queueKnobs({ name: "siteA-local" }), at: Date.now(),
  });
  // The report pipeline: 3 accounting reports and 2 dead letters wait, no agent reads them; the
  // agents' sampler counts them with passive declares.
  const conn = await connectRabbit(agents.rabbitmq.url, agents.rabbitmq);
  try {
    const ch = await conn.createConfirmChannel();
    await declareTopology(ch, names);
    for (let i = 0; i < 3; i++) ch.publish(names.rabbit.reportsExchange, routingKeyFor(names, "accounting"), Buffer.from("{}"), { persistent: true });
    // Dead letters arrive through the dead-letter exchange, as the agents republish them (the
    // agents' user may not publish to the default exchange, so not sendToQueue).
    for (let i = 0; i < 2; i++) ch.publish(names.rabbit.deadLetterExchange, routingKeyFor(names, "accounting"), Buffer.from("{}"), { persistent: true });
    await ch.waitForConfirms();
    await ch.close();
  } finally {
    await conn.close();
  }
  const sampler = new QueueDepthSampler({ url: agents.rabbitmq.url, rabbit: agents.rabbitmq, names, redis, logger: createLogger("monitor-metrics-test", "silent") });
  await sampler.sampleOnce();
  await sampler.stop();
  latency.observe(0.004);
  latency.observe(0.05);
  monitor = await startMonitor({ redis: monitorRedis, names, port: 0, providers: await defaultProviders({ redis: monitorRedis, names, config }) });
});

afterAll(async () => {
  await monitor?.close();
  const conn = await connectRabbit(agents.rabbitmq.url, agents.rabbitmq);
  await deleteTopology(await conn.createChannel(), names);
  await conn.close();
  defaultRegistry.removeSingleMetric("wms_test_monitor_latency_seconds");
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  monitorRedis.disconnect();
});

async function families(): Promise<ReturnType<typeof parsePrometheusFamilies>> {
  const r = await fetch(`${monitor.url}/metrics`);
  expect(r.headers.get("content-type")).toContain("text/plain");
  return parsePrometheusFamilies(await r.text());
}

describe("/metrics, parsed strictly", () => {
  it("names cumulative figures as counters (_total) and latencies as histograms, and types every family", async () => {
    const f = await families();
    expect(f.get("wms_job_failures_total")?.type).toBe("counter");
    expect(f.has("wms_job_failures")).toBe(false);
    expect(f.get("wms_job_failures_total")?.samples).toEqual([{ name: "wms_job_failures_total", labels: { code: String(ERR.PAYLOAD_FAILED), name: "PAYLOAD_FAILED" }, value: 2 }]);
    expect(f.get("wms_jobs")?.type).toBe("gauge");
    expect(f.get("wms_test_monitor_latency_seconds")?.type).toBe("histogram");
  });

  it("covers the factory: pilots by state, submissions and exits as counters, rates against target, activated jobs, the breaker", async () => {
    const f = await families();
    const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
      f.get(name)?.samples.find((s) => Object.entries({ queue: "fac-m/siteA-local", site: "SITE_A", ...labels }).every(([k, v]) => s.labels[k] === v))?.value;
    expect(f.get("wms_factory_pilots_submitted_total")?.type).toBe("counter");
    expect(value("wms_factory_pilots_submitted_total")).toBe(12);
    expect(value("wms_factory_pilots", { state: "idle" })).toBe(2);
    expect(f.get("wms_factory_pilots_exited_total")?.type).toBe("counter");
    expect([value("wms_factory_pilots_exited_total", { outcome: "finished" }), value("wms_factory_pilots_exited_total", { outcome: "empty" }), value("wms_factory_pilots_exited_total", { outcome: "missed" })]).toEqual([3, 2, 1]);
    expect(value("wms_factory_submit_rate_per_minute")).toBe(4);
    expect(value("wms_factory_target_rate_per_minute")).toBe(30);
    expect(value("wms_factory_activated_jobs")).toBe(9);
    expect(value("wms_factory_breaker_open")).toBe(1);
    expect(value("wms_factory_breaker_failures")).toBe(3);
    // The JSON API the page draws from says why the breaker is open.
    const api = (await (await fetch(`${monitor.url}/api/factory`)).json()) as Array<{ breaker?: { reason?: { code: number } } }>;
    expect(api[0].breaker?.reason?.code).toBe(ERR.FACTORY_SUBMIT_FAILED);
  });

  it("shows the report pipeline's depth: reports waiting per report queue, their consumers, and the dead letters, as gauges", async () => {
    const f = await families();
    const value = (name: string, labels: Record<string, string> = {}): number | undefined => f.get(name)?.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
    expect(f.get("wms_report_queue_messages")?.type).toBe("gauge");
    expect(value("wms_report_queue_messages", { queue: "accounting" })).toBe(3);
    expect(value("wms_report_queue_messages", { queue: "job-state" })).toBe(0);
    expect(value("wms_report_queue_messages", { queue: "dead-letter" })).toBe(2);
    expect(value("wms_report_queue_consumers", { queue: "accounting" })).toBe(0);
    expect(f.get("wms_dead_letter_messages")?.type).toBe("gauge");
    expect(value("wms_dead_letter_messages")).toBe(2);
  });

  it("the strict parser refuses a cumulative figure typed gauge and a histogram whose +Inf bucket disagrees with its count", () => {
    expect(() => parsePrometheusFamilies("# TYPE x_total gauge\nx_total 3\n")).toThrow(/named like a counter/);
    expect(() => parsePrometheusFamilies("# TYPE y counter\ny 3\n")).toThrow(/not named _total/);
    expect(() => parsePrometheusFamilies('# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n')).toThrow(/\+Inf/);
    expect(() => parsePrometheusFamilies("z 1\n")).toThrow(/no TYPE/);
  });

  it("the Grafana dashboard in deploy/ queries only metric families the monitor and the matchmaker expose", async () => {
    const dashboard = JSON.parse(readFileSync(new URL("../../deploy/grafana/pilot-wms-dashboard.json", import.meta.url), "utf8")) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    const exposed = new Set(await families().then((f) => [...f.keys()]));
    // The matchmaker's own families live in its process; their names as its source declares them.
    const mm = readFileSync(new URL("../../matchmaker/matchmaker-service.ts", import.meta.url), "utf8");
    for (const m of mm.matchAll(/name: "(wms_[a-z0-9_]+)"/g)) exposed.add(m[1]);
    const used = new Set<string>();
    for (const p of dashboard.panels) for (const t of p.targets ?? []) for (const m of t.expr.matchAll(/\b(wms_[a-z0-9_]+?)(?:_bucket|_sum|_count)?\b(?=[{[(\s)]|$)/g)) used.add(m[1]);
    expect(used.size).toBeGreaterThan(8);
    for (const name of used) expect(exposed, `dashboard queries ${name}`).toContain(name);
  });
});
