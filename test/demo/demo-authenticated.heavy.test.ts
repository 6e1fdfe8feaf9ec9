// The demo on private servers with authentication on: every part connects as its own role, pilots
// included, and the servers it ran on refuse anonymous clients throughout.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config.ts";
import { checkServices, type ServiceStatus } from "../../platform/service-check.ts";
import { runDemo, type DemoOutput } from "../../demo/demo-run.ts";

describe("the demo with authentication on", () => {
  it("finishes every job with each role on its own identity, while anonymous clients are refused", async () => {
    const lines: string[] = [];
    const out: DemoOutput = { info: (l) => void lines.push(l), progress: () => undefined, done: () => undefined };
    let anonymous: ServiceStatus[] = [];
    const summary = await runDemo(
      {
        jobs: 8, sites: 2, pilots: 2, matchmakers: 1, timeoutSec: 240, keep: false,
        beforeSubmit: async (ctx) => {
          // The deployment's own config file names the servers and no credentials: an outsider's view.
          anonymous = await checkServices(loadConfig({ env: { WMS_NATS_URL: ctx.config.nats.url, WMS_REDIS_URL: ctx.config.redis.url, WMS_RABBITMQ_URL: ctx.config.rabbitmq.url.replace("amqp://", "amqp://guest:guest@") } }).config);
        },
      },
      loadConfig({ env: {} }),
      out,
      new AbortController().signal,
    );
    expect(lines.join("\n")).toMatch(/started for the demo with authentication on/);
    expect(anonymous.map((s) => s.state)).toEqual(["auth-failed", "auth-failed", "auth-failed"]);
    expect(summary.finished).toBe(8);
    expect(summary.failed).toBe(0);
    // Reports reached the agents through the pilots' publish-only RabbitMQ user.
    expect(Object.values(summary.accountingByUser).reduce((n, u) => n + u.jobs, 0)).toBe(8);
  }, 300_000);
});
