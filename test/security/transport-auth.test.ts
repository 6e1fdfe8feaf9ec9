// Attacks on the transports with authentication on: private nats-server, redis-server and
// rabbitmq-server started with the files `wms secrets init` writes. Each test is an attack that
// must fail (with a positive control showing the legitimate role still gets through, so a test
// cannot pass because nothing works at all).
import amqp from "amqplib";
import { connect, type NatsConnection } from "nats";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReportPublisher } from "../../agents/reports/index.ts";
import { declareTopology } from "../../agents/reports/index.ts";
import type { LoadedConfig } from "../../platform/config.ts";
import { connectRabbit, natsConnectOptions, openNats, redisConnectOptions } from "../../platform/connections.ts";
import { createLogger } from "../../platform/logger.ts";
import { checkServices } from "../../platform/service-check.ts";
import { ERR } from "../../schemas/index.ts";
import type { TransportRole } from "../../security/index.ts";
import { startAuthServers, type AuthServers } from "../support/auth-servers.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { accountingReport } from "../reports/support/report-factory.ts";

let s: AuthServers;
const opened: NatsConnection[] = [];
const redises: Redis[] = [];
const spool = mkdtempSync(join(tmpdir(), "wms-authspool-"));
const enc = new TextEncoder();
const dec = new TextDecoder();

beforeAll(async () => {
  s = await startAuthServers("transportauth", { rabbit: true });
}, 180_000);

afterAll(async () => {
  await Promise.all(opened.map((nc) => nc.close().catch(() => undefined)));
  for (const r of redises) r.disconnect();
  await s?.stop();
  rmSync(spool, { recursive: true, force: true });
});

/** A NATS connection as `role`, collecting the permission errors the server sends it. */
async function natsAs(role: TransportRole): Promise<{ nc: NatsConnection; violations: string[] }> {
  const nc = await openNats(s.as(role).config, `attack-${role}`);
  opened.push(nc);
  const violations: string[] = [];
  void (async () => {
    for await (const st of nc.status()) if (st.type === "error") violations.push(String(st.data));
  })();
  return { nc, violations };
}

function redisAs(loaded: LoadedConfig): Redis {
  const r = new Redis({ host: "127.0.0.1", port: Number(new URL(s.urls.redis).port), ...redisConnectOptions(loaded.config.redis), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => undefined);
  redises.push(r);
  return r;
}

/** Counts what a subscription receives over `ms`. */
function collect(nc: NatsConnection, subject: string): { got: string[] } {
  const got: string[] = [];
  nc.subscribe(subject, { callback: (err, m) => void (err ? undefined : got.push(dec.decode(m.data))) });
  return { got };
}

const settle = (ms = 300): Promise<void> => new Promise((r) => setTimeout(r, ms));
// How long to wait for an answer that must come: generous, as a loaded CI machine is slow; the
// requests that must fail use short bounds, since failing is all they have to do.
const ANSWER_MS = 10_000;

describe("anonymous connections", () => {
  it("are refused by NATS, Redis and RabbitMQ alike, each reported as credentials refused (E1012), not as down", async () => {
    const statuses = await checkServices(s.anonymous.config);
    expect(statuses.map((x) => [x.service, x.state, x.code])).toEqual([
      ["nats", "auth-failed", ERR.SERVICE_AUTH_FAILED],
      ["redis", "auth-failed", ERR.SERVICE_AUTH_FAILED],
      ["rabbitmq", "auth-failed", ERR.SERVICE_AUTH_FAILED],
    ]);
    // Not even a plain NATS client without any credentials gets a session.
    await expect(connect({ servers: s.urls.nats.replace("nats://", ""), reconnect: false })).rejects.toThrow(/Authorization/i);
  });

  it("each role's own identity is accepted on the transports it uses", async () => {
    const states = async (role: TransportRole): Promise<string[]> => (await checkServices(s.as(role).config)).map((x) => `${x.service}:${x.state}`);
    expect(await states("matchmaker")).toEqual(["nats:up", "redis:up", "rabbitmq:auth-failed"]);
    expect(await states("agents")).toEqual(["nats:auth-failed", "redis:up", "rabbitmq:up"]);
    expect(await states("pilot")).toEqual(["nats:up", "redis:auth-failed", "rabbitmq:up"]);
  });

  it("a stolen user name with a wrong password is refused on every transport", async () => {
    const wrong = structuredClone(s.as("agents").config);
    wrong.redis.password = "not-the-password";
    delete wrong.redis.passwordFile;
    wrong.rabbitmq.password = "not-the-password";
    delete wrong.rabbitmq.passwordFile;
    const statuses = await checkServices(wrong);
    expect(statuses.filter((x) => x.service !== "nats").map((x) => x.state)).toEqual(["auth-failed", "auth-failed"]);
  });
});

describe("NATS subject permissions", () => {
  it("a pilot cannot subscribe to adverts; only matchmakers receive them (adverts carry pilot tokens)", async () => {
    const rogue = await natsAs("pilot");
    const mm = await natsAs("matchmaker");
    const stolen = collect(rogue.nc, s.anonymous.names.subjects.advert);
    const legit = collect(mm.nc, s.anonymous.names.subjects.advert);
    await rogue.nc.flush();
    await mm.nc.flush();
    const sender = await natsAs("pilot");
    sender.nc.publish(s.anonymous.names.subjects.advert, enc.encode("token=secret"));
    await sender.nc.flush();
    await expect.poll(() => legit.got.length).toBe(1);
    await settle();
    expect(stolen.got).toEqual([]);
    expect(rogue.violations.join()).toMatch(/PERMISSIONS_VIOLATION|Permissions Violation/i);
  });

  it("a pilot publishes adverts and heartbeats on per-site subjects one token deep, and cannot read them", async () => {
    const names = s.anonymous.names;
    const mm = await natsAs("matchmaker");
    const legit = collect(mm.nc, `${names.subjects.heartbeat}.*`);
    const adverts = collect(mm.nc, `${names.subjects.advert}.*`);
    await mm.nc.flush();
    const rogue = await natsAs("pilot");
    const stolen = collect(rogue.nc, `${names.subjects.advert}.*`);
    await rogue.nc.flush();
    const pilot = await natsAs("pilot");
    pilot.nc.publish(names.heartbeatFor("SITE_A"), enc.encode("batch"));
    pilot.nc.publish(names.advertFor("SITE.B"), enc.encode("token=secret"));
    // Deeper than one token is no site's subject: refused, never delivered.
    pilot.nc.publish(`${names.subjects.heartbeat}.SITE_A.extra`, enc.encode("deeper"));
    await pilot.nc.flush();
    await expect.poll(() => legit.got.length + adverts.got.length).toBe(2);
    await settle();
    expect(legit.got).toEqual(["batch"]);
    expect(stolen.got).toEqual([]);
    expect(pilot.violations.join()).toMatch(/PERMISSIONS_VIOLATION|Permissions Violation/i);
    expect(rogue.violations.join()).toMatch(/PERMISSIONS_VIOLATION|Permissions Violation/i);
  });

  it("a pilot cannot answer heartbeats (no rogue 'cancelled'); the matchmaker's answer is the one the pilot gets", async () => {
    const subj = s.anonymous.names.subjects.heartbeat;
    const rogue = await natsAs("pilot");
    rogue.nc.subscribe(subj, { callback: (e, m) => void (e ? undefined : m.respond(enc.encode("cancelled"))) });
    await rogue.nc.flush();
    const mm = await natsAs("matchmaker");
    mm.nc.subscribe(subj, { queue: s.anonymous.names.queueGroups.matchmaker, callback: (e, m) => void (e ? undefined : m.respond(enc.encode("ok"))) });
    await mm.nc.flush();
    const pilot = await natsAs("pilot");
    const answers = new Set<string>();
    for (let i = 0; i < 5; i++) answers.add(dec.decode((await pilot.nc.request(subj, enc.encode("hb"), { timeout: ANSWER_MS })).data));
    expect([...answers]).toEqual(["ok"]);
    expect(rogue.violations.join()).toMatch(/PERMISSIONS_VIOLATION|Permissions Violation/i);
  });

  it("a pilot cannot answer pool-lease requests (no rogue lease); only the pool-leases role receives them", async () => {
    const subj = s.anonymous.names.subjects.poolLease;
    const rogue = await natsAs("pilot");
    rogue.nc.subscribe(subj, { callback: (e, m) => void (e ? undefined : m.respond(enc.encode("root"))) });
    await rogue.nc.flush();
    const service = await natsAs("pool-leases");
    service.nc.subscribe(subj, { queue: s.anonymous.names.queueGroups.poolLeases, callback: (e, m) => void (e ? undefined : m.respond(enc.encode("ok"))) });
    await service.nc.flush();
    const pilot = await natsAs("pilot");
    const answers = new Set<string>();
    for (let i = 0; i < 5; i++) answers.add(dec.decode((await pilot.nc.request(subj, enc.encode("lease"), { timeout: ANSWER_MS })).data));
    expect([...answers]).toEqual(["ok"]);
    expect(rogue.violations.join()).toMatch(/PERMISSIONS_VIOLATION|Permissions Violation/i);
  });

  it("a pilot cannot publish into another pilot's inbox (a forged reply to its advert)", async () => {
    const victim = await natsAs("pilot");
    const inbox = `${s.as("pilot").config.nats.inboxPrefix}.victim`;
    const seen = collect(victim.nc, `${inbox}.>`);
    await victim.nc.flush();
    const rogue = await natsAs("pilot");
    rogue.nc.publish(`${inbox}.1`, enc.encode(JSON.stringify({ error: { code: 1501 } })));
    await rogue.nc.flush();
    // Control: the legitimate responder path (a matchmaker answering a request) reaches it.
    const mm = await natsAs("matchmaker");
    mm.nc.subscribe(s.anonymous.names.subjects.advert, { queue: s.anonymous.names.queueGroups.matchmaker, callback: (e, m) => void (e ? undefined : m.respond(enc.encode("envelope"))) });
    await mm.nc.flush();
    expect(dec.decode((await victim.nc.request(s.anonymous.names.subjects.advert, enc.encode("advert"), { timeout: ANSWER_MS })).data)).toBe("envelope");
    await settle();
    expect(seen.got).toEqual([]);
    expect(rogue.violations.join()).toMatch(/PERMISSIONS_VIOLATION|Permissions Violation/i);
  });

  it("a pilot cannot read other roles' replies (a wildcard inbox subscription is refused)", async () => {
    const rogue = await natsAs("pilot");
    const stolen = collect(rogue.nc, "_INBOX.>");
    await rogue.nc.flush();
    const cache = await natsAs("credentials");
    cache.nc.subscribe(s.anonymous.names.subjects.credInfo, { queue: s.anonymous.names.queueGroups.credentials, callback: (e, m) => void (e ? undefined : m.respond(enc.encode("proxy info"))) });
    await cache.nc.flush();
    const operator = await natsAs("operator");
    expect(dec.decode((await operator.nc.request(s.anonymous.names.subjects.credInfo, enc.encode("info"), { timeout: ANSWER_MS })).data)).toBe("proxy info");
    await settle();
    expect(stolen.got).toEqual([]);
  });

  it("only an operator can publish factory control (no pilotsPerMinute=0 from a pilot or a service)", async () => {
    const factory = await natsAs("factory");
    const got = collect(factory.nc, s.anonymous.names.subjects.factoryControl);
    await factory.nc.flush();
    for (const role of ["pilot", "matchmaker", "intake"] as const) {
      const rogue = await natsAs(role);
      rogue.nc.publish(s.anonymous.names.subjects.factoryControl, enc.encode(`pilotsPerMinute=0 from ${role}`));
      await rogue.nc.flush();
    }
    const operator = await natsAs("operator");
    operator.nc.publish(s.anonymous.names.subjects.factoryControl, enc.encode("pilotsPerMinute=30"));
    await operator.nc.flush();
    await expect.poll(() => got.got.length).toBe(1);
    await settle();
    expect(got.got).toEqual(["pilotsPerMinute=30"]);
  });

  it("only the intake receives task batches; a pilot or a matchmaker subscribing to them gets nothing", async () => {
    const subj = s.anonymous.names.subjects.intakeSubmit;
    const thieves = await Promise.all((["pilot", "matchmaker", "factory"] as const).map((r) => natsAs(r)));
    const stolen = thieves.map((t) => collect(t.nc, subj));
    await Promise.all(thieves.map((t) => t.nc.flush()));
    const intake = await natsAs("intake");
    intake.nc.subscribe(subj, { queue: s.anonymous.names.queueGroups.intake, callback: (e, m) => void (e ? undefined : m.respond(enc.encode("accepted"))) });
    await intake.nc.flush();
    const operator = await natsAs("operator");
    expect(dec.decode((await operator.nc.request(subj, enc.encode("signed batch"), { timeout: ANSWER_MS })).data)).toBe("accepted");
    await settle();
    expect(stolen.flatMap((x) => x.got)).toEqual([]);
  });

  it("only the factory reads the census: a pilot subscribing gets nothing, so it cannot replay another pilot's census proof", async () => {
    const subj = s.anonymous.names.subjects.pilotCensus;
    const thieves = await Promise.all((["pilot", "matchmaker", "intake"] as const).map((r) => natsAs(r)));
    const stolen = thieves.map((t) => collect(t.nc, subj));
    await Promise.all(thieves.map((t) => t.nc.flush()));
    const factory = await natsAs("factory");
    const heard = collect(factory.nc, subj);
    await factory.nc.flush();
    const pilot = await natsAs("pilot");
    pilot.nc.publish(subj, enc.encode('{"proof":"only-the-factory-may-see-this"}'));
    await pilot.nc.flush();
    await expect.poll(() => heard.got.length).toBe(1);
    await settle();
    expect(stolen.flatMap((x) => x.got)).toEqual([]);
    expect(thieves[0].violations.join()).toMatch(/PERMISSIONS_VIOLATION|Permissions Violation/i);
  });

  it("a pilot cannot submit a task batch itself", async () => {
    const pilot = await natsAs("pilot");
    const intake = await natsAs("intake");
    const got = collect(intake.nc, s.anonymous.names.subjects.intakeSubmit);
    await intake.nc.flush();
    await expect(pilot.nc.request(s.anonymous.names.subjects.intakeSubmit, enc.encode("batch"), { timeout: 1000 })).rejects.toThrow();
    await settle();
    expect(got.got).toEqual([]);
  });
});

describe("Redis ACL", () => {
  it("pilots hold no Redis credentials: the pilot identity cannot open Redis at all", async () => {
    const cfg = s.as("pilot").config;
    expect(cfg.redis.username).toBeUndefined();
    const r = redisAs(s.as("pilot"));
    await r.connect().catch(() => undefined);
    await expect(r.get(`${s.anonymous.names.redisPrefix}sec:ptoken:x`)).rejects.toThrow(/NOAUTH|Connection is closed|Stream isn't writeable/);
  });

  it("the pool-lease service's user writes the pool hashes and reads job records, nothing else", async () => {
    const names = s.anonymous.names;
    const writer = redisAs(s.as("matchmaker"));
    await writer.connect();
    const job = `${names.redisPrefix}{${names.namespace}:t:T1}:j:T1.0`;
    await writer.hset(job, "state", "running");
    const pool = redisAs(s.as("pool-leases"));
    await pool.connect();
    const poolKey = names.redisKey("site", "SITE_A", "pool");
    await pool.hset(poolKey, "a:pool001", "{}");
    expect(await pool.eval("return redis.call('hget', KEYS[1], 'a:pool001')", 1, poolKey)).toBe("{}");
    expect(await pool.hget(job, "state")).toBe("running");
    await expect(pool.hset(job, "state", "failed")).rejects.toThrow(/NOPERM/);
    await expect(pool.get(names.redisKey("sec", "ptoken", "x"))).rejects.toThrow(/NOPERM/);
    await expect(pool.set(names.redisKey("credential", "x"), "1")).rejects.toThrow(/NOPERM/);
    // Its selectors: one command each on the nonces, the audit stream and its refusal counter.
    expect(await pool.set(names.redisKey("sec", "nonce", "n1"), "1", "PX", 60_000, "NX")).toBe("OK");
    await expect(pool.del(names.redisKey("sec", "nonce", "n1"))).rejects.toThrow(/NOPERM/);
    await expect(pool.xrange(names.redisKey("sec", "audit"), "-", "+")).rejects.toThrow(/NOPERM/);
    expect(await pool.hincrby(names.redisKey("sec", "pool-lease-refused"), "1808", 1)).toBe(1);
    expect(await writer.hget(job, "state")).toBe("running");
  });

  it("a service user cannot touch keys outside its deployment's namespace", async () => {
    const r = redisAs(s.as("matchmaker"));
    await r.connect();
    const own = s.anonymous.names.redisKey("probe");
    await r.set(own, "1");
    expect(await r.get(own)).toBe("1");
    await expect(r.set("otherdeployment:sec:ptoken:x", "1")).rejects.toThrow(/NOPERM/);
    await expect(r.get("{otherdeployment}:site.A:wait")).rejects.toThrow(/NOPERM/);
    // Not through a script either: Redis checks the ACL for every command a script runs.
    await expect(r.eval("return redis.call('set', KEYS[1], '1')", 1, "otherdeployment:x")).rejects.toThrow(/NOPERM|No permissions|can't run this command/);
  });

  it("no service user can run dangerous commands (FLUSHALL, CONFIG SET, KEYS, ACL, SHUTDOWN, REPLICAOF)", async () => {
    const r = redisAs(s.as("agents"));
    await r.connect();
    for (const cmd of [["flushall"], ["config", "set", "aclfile", "/tmp/x"], ["keys", "*"], ["acl", "list"], ["shutdown", "nosave"], ["replicaof", "127.0.0.1", "1"]]) {
      await expect(r.call(cmd[0], ...cmd.slice(1)), cmd.join(" ")).rejects.toThrow(/NOPERM|No permissions|can't run this command/);
    }
  });

  it("the monitor reads but cannot write, directly or through a Lua script", async () => {
    const writer = redisAs(s.as("intake"));
    await writer.connect();
    const key = s.anonymous.names.redisKey("job", "j1");
    await writer.hset(key, "state", "running");
    const monitor = redisAs(s.as("monitor"));
    await monitor.connect();
    expect(await monitor.hget(key, "state")).toBe("running");
    await expect(monitor.hset(key, "state", "failed")).rejects.toThrow(/NOPERM/);
    await expect(monitor.eval("return redis.call('hset', KEYS[1], 'state', 'failed')", 1, key)).rejects.toThrow(/NOPERM|No permissions|can't run this command/);
    expect(await writer.hget(key, "state")).toBe("running");
  });
});

describe("RabbitMQ permissions", () => {
  const logger = createLogger("test", "silent");
  const names = (): AuthServers["anonymous"]["names"] => s.anonymous.names;
  const rabbitOf = (role: TransportRole): LoadedConfig["config"]["rabbitmq"] => s.as(role).config.rabbitmq;

  /** Runs `fn` on a fresh channel as `role`; resolves to the channel error's text, or "" if none. */
  async function attempt(role: TransportRole, fn: (ch: amqp.ConfirmChannel) => Promise<unknown>): Promise<string> {
    const r = rabbitOf(role);
    const conn = await connectRabbit(r.url, r);
    conn.on("error", () => undefined);
    try {
      const ch = await conn.createConfirmChannel();
      let err = "";
      ch.on("error", (e: Error) => (err = e.message));
      try {
        await fn(ch);
        await ch.waitForConfirms();
      } catch (e) {
        err ||= (e as Error).message;
      }
      await new Promise((res) => setTimeout(res, 100));
      return err;
    } finally {
      await conn.close().catch(() => undefined);
    }
  }

  beforeAll(async () => {
    // The agents declare the topology, as `wms agents` does at start.
    expect(await attempt("agents", (ch) => declareTopology(ch, names()))).toBe("");
  });

  it("a pilot publishes its reports through the real publisher without declaring anything", async () => {
    const pub = new ReportPublisher({ url: rabbitOf("pilot").url, rabbit: rabbitOf("pilot"), names: names(), spoolDir: join(spool, randomUUID()), logger, retryMaxMs: 200 });
    await pub.publish(accountingReport({ site: "SITE_AUTH" }));
    expect(await pub.spooledCount()).toBe(0);
    await pub.close();
    let count = 0;
    await attempt("agents", async (ch) => {
      count = (await ch.checkQueue(names().rabbit.queues.accounting)).messageCount;
    });
    expect(count).toBeGreaterThanOrEqual(1);
  });

  it("a pilot cannot consume any queue (no reading other users' reports)", async () => {
    expect(await attempt("pilot", (ch) => ch.consume(names().rabbit.queues.accounting, () => undefined))).toMatch(/ACCESS_REFUSED/);
    expect(await attempt("pilot", (ch) => ch.get(names().rabbit.queues.audit))).toMatch(/ACCESS_REFUSED/);
  });

  it("a pilot cannot publish to any other exchange (e.g. straight into the dead-letter exchange)", async () => {
    expect(await attempt("pilot", async (ch) => ch.publish(names().rabbit.deadLetterExchange, "", Buffer.from("x")))).toMatch(/ACCESS_REFUSED/);
    expect(await attempt("pilot", async (ch) => ch.publish("amq.topic", "x", Buffer.from("x")))).toMatch(/ACCESS_REFUSED/);
  });

  it("a pilot cannot declare, bind or delete queues (no tap on the reports exchange, no deleting the agents' queues)", async () => {
    expect(await attempt("pilot", (ch) => ch.assertQueue(`${names().namespace}.reports.tap`))).toMatch(/ACCESS_REFUSED/);
    expect(await attempt("pilot", (ch) => ch.deleteQueue(names().rabbit.queues.jobState))).toMatch(/ACCESS_REFUSED/);
  });

  it("roles with no business on RabbitMQ (matchmaker, intake, monitor, operator) have no user there at all", async () => {
    for (const role of ["matchmaker", "intake", "monitor", "operator"] as const) {
      const statuses = await checkServices(s.as(role).config);
      expect(statuses.find((x) => x.service === "rabbitmq")?.state, role).toBe("auth-failed");
    }
  });

  it("guest is gone", async () => {
    await expect(connectRabbit(s.urls.rabbitmq ?? "", { declareTopology: true, username: "guest", password: "guest" })).rejects.toThrow(/E1012|refused user 'guest'/);
  });
});

describe("connection configuration", () => {
  it("reads the same identity from a server list, trying the next server when the first is down", async () => {
    const cfg = structuredClone(s.as("pilot").config);
    cfg.nats.url = `nats://127.0.0.1:1,${s.urls.nats}`;
    const nc = await connect({ ...natsConnectOptions(cfg.nats, "list"), reconnect: false });
    opened.push(nc);
    await nc.flush();
    const r = s.as("pilot").config.rabbitmq;
    const conn = await connectRabbit(`amqp://127.0.0.1:1,${s.urls.rabbitmq ?? ""}`, r);
    await conn.close();
  });
});
