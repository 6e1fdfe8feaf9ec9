import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../platform/config.ts";

describe("config", () => {
  it("defaults to the loopback services", () => {
    const { config, names } = loadConfig({ env: {} });
    expect(config.nats.url).toBe("nats://127.0.0.1:4222");
    expect(config.redis.url).toBe("redis://127.0.0.1:6379");
    expect(config.rabbitmq.url).toBe("amqp://guest:guest@127.0.0.1:5672");
    expect(names.subjects.advert).toBe("wms.match.advert");
    expect(names.bullPrefix).toBe("{wms}");
  });

  it("reads wms.yaml and lets the environment override the service URLs", () => {
    const dir = mkdtempSync(join(tmpdir(), "wmscfg-"));
    const file = join(dir, "wms.yaml");
    writeFileSync(file, "namespace: prod\nredis:\n  url: redis://10.0.0.5:6379\nnats:\n  url: nats://10.0.0.6:4222\n");
    const { config, names } = loadConfig({ path: file, env: { WMS_NATS_URL: "nats://127.0.0.1:14222" } });
    expect(config.redis.url).toBe("redis://10.0.0.5:6379");
    expect(config.nats.url).toBe("nats://127.0.0.1:14222");
    expect(names.rabbit.reportsExchange).toBe("prod.reports");
  });

  it("refuses an unknown key with code 1002 naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "wmscfg-"));
    const file = join(dir, "wms.yaml");
    writeFileSync(file, "redis:\n  uri: redis://x\n");
    expect(() => loadConfig({ path: file, env: {} })).toThrow(/1002|configuration.*uri/);
  });
});
