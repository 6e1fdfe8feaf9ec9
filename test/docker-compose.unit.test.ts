import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

interface Service {
  image?: string;
  build?: unknown;
  ports?: string[];
  healthcheck?: { test: unknown };
  command?: unknown;
}

describe("docker-compose.yml", () => {
  const doc = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8")) as { services: Record<string, Service> };

  it("runs NATS with JetStream, Redis with append-only persistence and RabbitMQ on the standard ports, each with a health check", () => {
    const { nats, redis, rabbitmq } = doc.services;
    expect(nats.ports).toContain("4222:4222");
    expect(JSON.stringify(nats.command)).toContain("-js");
    expect(redis.ports).toContain("6379:6379");
    expect(JSON.stringify(redis.command)).toMatch(/--appendonly",\s*"yes|--appendonly yes/);
    expect(rabbitmq.ports).toContain("5672:5672");
    for (const s of [nats, redis, rabbitmq]) expect(s.healthcheck?.test).toBeTruthy();
  });
});

describe("docker-compose.yml runs the whole system", () => {
  const doc = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8")) as { services: Record<string, Service & { command?: string[] }> };

  it("has the matchmaker, credential cache, intake, agents, factory and monitor, built from the project's Dockerfile", () => {
    for (const name of ["matchmaker", "credentials", "intake", "agents", "factory", "monitor"]) {
      const s = doc.services[name];
      expect(s, name).toBeDefined();
      expect(s.build, name).toBe(".");
    }
  });

  it("starts each service with a real `wms` command of the CLI", async () => {
    const { runCli } = await import("./support/run-cli.ts");
    for (const name of ["matchmaker", "credentials", "intake", "agents", "factory", "monitor"]) {
      const args = (doc.services[name].command ?? []).filter((a, i, all) => a !== "--config" && all[i - 1] !== "--config");
      const words = args.filter((a) => !a.startsWith("-")).slice(0, 2);
      const r = await runCli([...words, "--help"]);
      expect(r.code, `${name}: wms ${words.join(" ")} --help`).toBe(0);
    }
  }, 120_000);
});

describe("deploy/ configuration for the compose deployment", () => {
  it("validates against the schemas the services load it with", async () => {
    const { loadConfig, readDataFile } = await import("../platform/config.ts");
    const { SiteConfig, FactoryConfig } = await import("../schemas/index.ts");
    const dir = new URL("../deploy/", import.meta.url).pathname;
    expect(loadConfig({ path: `${dir}wms.yaml`, env: {} }).config.pki.dir).toBe("/pki");
    expect(SiteConfig.parse(readDataFile(`${dir}sites.yaml`)).sites.map((s) => s.name)).toEqual(["SITE_A", "SITE_B"]);
    expect(FactoryConfig.parse(readDataFile(`${dir}factory.yaml`)).queues).toHaveLength(2);
  });
});

describe("docker-compose.yml profiles", () => {
  const doc = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8")) as {
    services: Record<string, Service & { profiles?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { required?: boolean }> }>;
  };
  const selected = (profile: string): string[] => Object.keys(doc.services).filter((n) => doc.services[n].profiles?.includes(profile)).sort();
  const WMS = ["agents", "credentials", "factory", "intake", "matchmaker", "monitor", "pki"];

  it("'bundled' runs everything; 'external' only the pilot-wms services, none of NATS, Redis, RabbitMQ", () => {
    expect(selected("bundled")).toEqual(Object.keys(doc.services).sort());
    expect(selected("external")).toEqual(WMS);
  });

  it("under 'external' the services reach the servers named by WMS_*_URL and do not wait for ones that are not there", () => {
    for (const name of WMS.filter((n) => n !== "pki")) {
      const s = doc.services[name];
      expect(s.environment?.WMS_NATS_URL, name).toMatch(/^\$\{WMS_NATS_URL:-nats:\/\/nats:4222\}$/);
      expect(s.environment?.WMS_REDIS_URL, name).toMatch(/^\$\{WMS_REDIS_URL:-/);
      expect(s.environment?.WMS_RABBITMQ_URL, name).toMatch(/^\$\{WMS_RABBITMQ_URL:-/);
      for (const dep of ["nats", "redis", "rabbitmq"]) expect(s.depends_on?.[dep]?.required, `${name} → ${dep}`).toBe(false);
    }
  });
});
