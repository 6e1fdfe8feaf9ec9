import { describe, expect, it } from "vitest";
import { createServer } from "node:net";
import { asTheUserNeedsThem, checkRabbit, startCommand } from "../platform/service-check.ts";
import { testConfig } from "./support/namespace.ts";
import { runCli } from "./support/run-cli.ts";
import { roleEnv } from "./support/test-roles.ts";

/** A port nobody listens on: bind, read the number, close. */
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

// `wms services check` connects as its config's identity. The check runs as the credential cache,
// the one service that uses all three transports (NATS requests, Redis, RabbitMQ reports), so on
// authenticated servers each answers it; on the shared services the role changes nothing.
const asCache = roleEnv("credentials");

describe("wms services check", () => {
  it("reports all three services up with --json", async () => {
    const r = await runCli(["services", "check", "--json"], { env: asCache });
    const out = JSON.parse(r.stdout) as { ok: boolean; services: Array<{ service: string; up: boolean }> };
    expect(out.services.map((s) => s.service).sort()).toEqual(["nats", "rabbitmq", "redis"]);
    expect(out.ok).toBe(true);
    expect(r.code).toBe(0);
  });

  it("names the one service that does not answer, says how to start it, and exits 1", async () => {
    const port = await freePort();
    const r = await runCli(["services", "check", "--json"], { env: { ...asCache, WMS_REDIS_URL: `redis://127.0.0.1:${port}` } });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; services: Array<{ service: string; up: boolean; howToStart?: string }> };
    expect(out.ok).toBe(false);
    const down = out.services.filter((s) => !s.up);
    expect(down.map((s) => s.service)).toEqual(["redis"]);
    // At the port the config names (a server started on 6379 would leave the check failing).
    expect(down[0].howToStart).toBe(startCommand("redis", port));
    expect(down[0].howToStart).toMatch(new RegExp(`^redis-server --daemonize yes .*--port ${port} .*--pidfile \\S*/wms-redis-${port}\\.pid$`));
    const human = await runCli(["services", "check"], { env: { ...asCache, WMS_RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${port}` } });
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/DOWN\s+rabbitmq/);
    // A node of its own beside the machine's (test/platform/start-hints.heavy.test.ts runs it).
    expect(human.stdout).toContain(`start it with: ${startCommand("rabbitmq", port)}\n`);
    expect(startCommand("rabbitmq", port)).toMatch(new RegExp(`^RABBITMQ_NODENAME=wms${port}@localhost .*RABBITMQ_NODE_PORT=${port} .*RABBITMQ_CONFIG_FILE=\\S+ .*rabbitmq-server -detached$`));
    expect(human.stdout).toContain("not answering: rabbitmq");
  });

  it("times a server that answers with a refusal, and one counted as up for an identity with no user there", async () => {
    const loaded = testConfig("svc");
    const live = new URL(loaded.config.rabbitmq.url);
    live.username = "";
    live.password = "";
    const refused = await checkRabbit({ ...loaded.config.rabbitmq, url: live.toString(), username: "nobody", password: "not-a-password" });
    expect(refused.state).toBe("auth-failed");
    expect(refused.latencyMs).toEqual(expect.any(Number));
    // The operator's identity holds no RabbitMQ user: the refusal proves the broker answers ('wms services check' printed "undefined ms").
    const [asUser] = asTheUserNeedsThem([refused], "operator");
    expect(asUser).toMatchObject({ up: true, state: "up", latencyMs: refused.latencyMs });
  });

  it("asks every node of a RabbitMQ URL list: up while one answers, naming the ones that do not", async () => {
    const port = await freePort();
    const live = process.env.WMS_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672";
    // The dead node first: clients would pass it over silently and connect to the next.
    const env = { ...asCache, WMS_RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${port},${live}` };
    const r = await runCli(["services", "check", "--json"], { env });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { services: Array<{ service: string; up: boolean; detail?: string }> };
    const rabbit = out.services.find((s) => s.service === "rabbitmq");
    expect(rabbit?.up).toBe(true);
    // The node's URL as configured, its vhost included (an identity names its vhost).
    expect(rabbit?.detail).toMatch(new RegExp(`^1 of 2 nodes answer; not answering: amqp://127\\.0\\.0\\.1:${port}(/\\S*)? \\(.*ECONNREFUSED`));
    expect(rabbit?.detail).not.toContain("guest:");
    const human = await runCli(["services", "check"], { env });
    expect(human.stdout).toMatch(/ok\s+rabbitmq .*; 1 of 2 nodes answer; not answering: amqp:\/\/127\.0\.0\.1:\d+/);
  });

  it("names a RabbitMQ node that does not answer to the operator too, whose identity every node refuses", async () => {
    const port = await freePort();
    const loaded = testConfig("svc");
    const live = new URL(loaded.config.rabbitmq.url);
    live.username = "";
    live.password = "";
    // deploy/README.md has the operator check the clusters; its role holds no RabbitMQ user, and the
    // refusal of the live node hid the node that was down ("ok ... it refused this identity").
    const refused = await checkRabbit({ ...loaded.config.rabbitmq, url: `amqp://127.0.0.1:${port},${live.toString()}`, username: "nobody", password: "not-a-password" });
    expect(refused.state).toBe("auth-failed");
    const [asOperator] = asTheUserNeedsThem([refused], "operator");
    expect(asOperator.up).toBe(true);
    expect(asOperator.detail).toMatch(new RegExp(`^1 of 2 nodes answer; not answering: amqp://127\\.0\\.0\\.1:${port}(/\\S*)? \\(.*ECONNREFUSED.*; it refused this identity`));
  });

  it("asks every server of a NATS URL list: up while one answers, naming the ones that do not", async () => {
    const port = await freePort();
    const live = process.env.WMS_NATS_URL ?? "nats://127.0.0.1:4222";
    // The dead server first: a client connects to another (and learns the rest from the cluster), so
    // the check said "ok" with a node of the operator's list down.
    const env = { ...asCache, WMS_NATS_URL: `nats://127.0.0.1:${port},${live}` };
    const r = await runCli(["services", "check", "--json"], { env });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { services: Array<{ service: string; up: boolean; detail?: string }> };
    const nats = out.services.find((s) => s.service === "nats");
    expect(nats?.up).toBe(true);
    expect(nats?.detail).toMatch(new RegExp(`^1 of 2 nodes answer; not answering: 127\\.0\\.0\\.1:${port} \\(.*CONNECTION_REFUSED`));
    // Every server down: down, as before, naming each with its reason (on a busy machine a node that
    // was only slow, TIMEOUT, must not pass for one that is gone; only the last one was named).
    const other = await freePort();
    const down = await runCli(["services", "check", "--json"], { env: { ...asCache, WMS_NATS_URL: `nats://127.0.0.1:${port},nats://127.0.0.1:${other}` } });
    expect(down.code).toBe(1);
    const natsDown = (JSON.parse(down.stdout) as { services: Array<{ service: string; state: string; error?: string }> }).services.find((s) => s.service === "nats");
    expect(natsDown?.state).toBe("down");
    expect(natsDown?.error).toMatch(new RegExp(`^none of the 2 nodes answers: 127\\.0\\.0\\.1:${port} \\(.*CONNECTION_REFUSED.*\\), 127\\.0\\.0\\.1:${other} \\(.*CONNECTION_REFUSED`));
  });
});
