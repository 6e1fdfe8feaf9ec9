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
