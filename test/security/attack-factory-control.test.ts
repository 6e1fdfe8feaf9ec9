// Attacks on factory control (`wms factory set`), with authentication on (private nats-server and
// redis-server with the files `wms secrets init` writes; the factory runs as its role): someone
// holding the operator's NATS identity (the one role allowed to publish it) tries to retune a
// running factory to pilotsPerMinute=0: unsigned, signed by a user who is not an operator, by
// another CA, by a revoked operator, a captured request replayed, an expired one; records written
// into Redis for the factory's next start; other roles answering in the factory's place. Each test
// fails if the attack succeeds: the factory's live knobs and the next cycle's rate are checked, not
// only the reply.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMonitorRegistry } from "../../agents/monitor/monitor-metrics.ts";
import { MonitorData } from "../../agents/monitor/monitor-data.ts";
import { factoryKeys, startFactory, type CycleReport, type RunningFactory } from "../../pilot-factory/index.ts";
import { ERR, FactoryControlReply, SCHEMA_VERSION, type SignedFactoryControl } from "../../schemas/index.ts";
import {
  AuditLog,
  factoryControlRefusals,
  FactoryControlVerifier,
  issueCertificate,
  loadTrust,
  revokeCertificate,
  signFactoryControl,
  type CertificateAndKey,
} from "../../security/index.ts";
import { openNats, openRedis } from "../../platform/connections.ts";
import type { TransportRole } from "../../security/index.ts";
import { startAuthServers, type AuthServers } from "../support/auth-servers.ts";
import { queueKnobs, RecordingTokens, silentPilot, testRuntime, waitFor } from "../pilot-factory/factory-fixture.ts";
import { BITS, usePki } from "./support/pki-fixture.ts";

let s: AuthServers;
const FACTORY = "fac-attacked";
const QUEUE = "prod";
const pki = usePki();
const encoder = new TextEncoder();
const opened: NatsConnection[] = [];
const redises: RedisClient[] = [];
/** The operator's NATS connection: every attack here is sent with it. */
let nc: NatsConnection;
/** The operator's Redis user (the whole namespace), to look at and write what the factory keeps. */
let redis: RedisClient;
let factory: RunningFactory;
let operator: { certChain: string[]; keyPem: string };
const reports: CycleReport[] = [];
const workDir = mkdtempSync(path.join(os.tmpdir(), "wms-attack-factory-"));

const signer = (c: CertificateAndKey): { certChain: string[]; keyPem: string } => ({ certChain: [c.certPem], keyPem: c.keyPem });
const issueOperator = (cn: string): CertificateAndKey => issueCertificate({ caDir: pki().dir, keyBits: BITS, kind: "user", dn: `/DC=org/DC=pilot-wms/OU=Operators/CN=${cn}`, roles: ["operator"] });

const names = (): AuthServers["anonymous"]["names"] => s.anonymous.names;

async function natsAs(role: TransportRole): Promise<NatsConnection> {
  const c = await openNats(s.as(role).config, `attack-factory-${role}`);
  opened.push(c);
  return c;
}

function redisAs(role: TransportRole): RedisClient {
  const r = openRedis(s.as(role).config);
  redises.push(r);
  return r;
}

async function start(): Promise<RunningFactory> {
  const redis = redisAs("factory");
  const names = s.anonymous.names;
  return startFactory({
    config: { schemaVersion: SCHEMA_VERSION, factoryId: FACTORY, queues: [queueKnobs({ name: QUEUE, pilotsPerMinute: 600, cycleSec: 0.25 })] },
    nc: await natsAs("factory"),
    redis,
    names,
    tokens: new RecordingTokens(redis, names),
    waitingJobs: async () => 1000,
    runtime: testRuntime(s.as("factory")),
    workDir,
    pilotCommand: silentPilot,
    onCycle: (r) => reports.push(r),
    // The CRL is looked at on every check, so a revocation counts at once.
    control: new FactoryControlVerifier(redis, names, loadTrust(pki().dir, { crlCheckMs: 0 })),
  });
}

/** Sends as any NATS client of the namespace would, and reads the factory's answer. */
async function send(body: unknown): Promise<FactoryControlReply> {
  const m = await nc.request(names().subjects.factoryControl, encoder.encode(JSON.stringify(body)), { timeout: 15_000 });
  return FactoryControlReply.parseJson(m.data);
}

async function expectRefused(body: unknown, code: number): Promise<void> {
  const reply = await send(body);
  expect(reply).toMatchObject({ status: "error", code });
  if (reply.status === "error") {
    expect(reply.message).not.toContain("\n");
    expect(reply.message).not.toContain("    at ");
  }
}

/** The attack's goal: the factory stopped. Checked on the live knobs and on a cycle that starts after the attempt. */
async function expectStillRunningAt(rate: number): Promise<void> {
  expect(factory.queues()[0].pilotsPerMinute).toBe(rate);
  const since = Date.now();
  const next = await waitFor("a cycle after the attempt", () => reports.find((r) => r.startedAt >= since));
  expect(next.knobs.pilotsPerMinute).toBe(rate);
  expect(await redis.exists(factoryKeys(names(), FACTORY).queue(QUEUE).knobs)).toBe(rate === 600 ? 0 : 1);
}

const stop = { factoryId: FACTORY, queue: QUEUE, knobs: { pilotsPerMinute: 0 } };

beforeAll(async () => {
  s = await startAuthServers("attackfactory");
  nc = await natsAs("operator");
  redis = redisAs("operator");
  operator = signer(issueOperator("night operator"));
  factory = await start();
});

afterAll(async () => {
  await factory?.stop();
  await Promise.all(opened.map((c) => c.close().catch(() => undefined)));
  for (const r of redises) r.disconnect();
  await s?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

describe("factory control from someone who is not an operator", () => {
  it("refuses an unsigned control message, as `wms factory set` sent it before (E1723), and a bare publish changes nothing either", async () => {
    await expectRefused({ schemaVersion: 1, ...stop, at: Date.now() }, ERR.SEC_NOT_OPERATOR);
    nc.publish(names().subjects.factoryControl, encoder.encode(JSON.stringify({ schemaVersion: 1, ...stop, at: Date.now() })));
    await nc.flush();
    await expectStillRunningAt(600);
  });

  it("refuses control signed by a user certificate without the operator role (E1723), and by the matchmaker's service certificate", async () => {
    await expectRefused(signFactoryControl(stop, signer(pki().user)), ERR.SEC_NOT_OPERATOR);
    await expectRefused(signFactoryControl(stop, signer(pki().matchmaker)), ERR.SEC_NOT_OPERATOR);
    await expectStillRunningAt(600);
  });

  it("refuses an operator certificate from another CA (E1700), a tampered request (E1702) and a revoked operator (E1715)", async () => {
    const foreignDir = path.dirname(pki().dir);
    const foreignOperator = issueCertificate({ caDir: path.join(foreignDir, "foreign"), keyBits: BITS, kind: "user", dn: "/DC=org/DC=pilot-wms/OU=Operators/CN=night operator", roles: ["operator"] });
    await expectRefused(signFactoryControl(stop, signer(foreignOperator)), ERR.SEC_UNTRUSTED_CA);

    const honest = signFactoryControl({ ...stop, knobs: { pilotsPerMinute: 700 } }, operator);
    const tampered: SignedFactoryControl = { ...honest, control: honest.control.replace('"pilotsPerMinute":700', '"pilotsPerMinute":0') };
    await expectRefused(tampered, ERR.SEC_BAD_SIGNATURE);

    const leaver = issueOperator("former operator");
    revokeCertificate(pki().dir, { certPem: leaver.certPem, reason: "affiliationChanged" });
    await expectRefused(signFactoryControl(stop, signer(leaver)), ERR.SEC_CERT_REVOKED);
    await expectStillRunningAt(600);
  });
});

describe("captured and stale operator requests", () => {
  it("refuses an operator's request past its expiry (E1720) and one valid for longer than an hour", async () => {
    await expectRefused(signFactoryControl(stop, operator, { now: Date.now() - 3_600_000 }), ERR.SEC_REQUEST_EXPIRED);
    await expectRefused(signFactoryControl(stop, operator, { validityMs: 30 * 86_400_000 }), ERR.SEC_REQUEST_EXPIRED);
    await expectStillRunningAt(600);
  });

  it("applies an operator's request within one cycle, then refuses it replayed byte for byte (E1706) after the rate was set back", async () => {
    const slow = signFactoryControl({ ...stop, knobs: { pilotsPerMinute: 60 } }, operator);
    const sent = Date.now();
    expect(await send(slow)).toMatchObject({ status: "ok", factoryId: FACTORY, queue: QUEUE, knobs: { pilotsPerMinute: 60 } });
    // A cycle already under way may finish with the old knobs; the next one must use the new.
    const after = await waitFor("two cycles after the change", () => {
      const later = reports.filter((r) => r.startedAt >= sent);
      return later.length >= 2 ? later : undefined;
    });
    expect(after[1].knobs.pilotsPerMinute).toBe(60);

    expect(await send(signFactoryControl({ ...stop, knobs: { pilotsPerMinute: 600 } }, operator))).toMatchObject({ status: "ok" });
    await expectRefused(slow, ERR.SEC_NONCE_REPLAYED);
    await expectRefused(slow, ERR.SEC_NONCE_REPLAYED);
    expect(factory.queues()[0].pilotsPerMinute).toBe(600);
  });
});

describe("factory control kept in Redis for the next start", () => {
  it("a restarted factory applies the operator's kept change and ignores values a Redis writer put beside it", async () => {
    const key = factoryKeys(names(), FACTORY).queue(QUEUE).knobs;
    expect(await send(signFactoryControl({ ...stop, knobs: { maxPending: 42 } }, operator))).toMatchObject({ status: "ok" });
    await factory.stop();
    // A plain value, as the store held before requests were signed; a signed request of a user
    // without the operator role; the operator's own request for maxPending copied under pilotsPerMinute.
    const userSigned = signFactoryControl(stop, signer(pki().user));
    await redis.hset(key, { pilotsPerMinute: "0", targetIdle: JSON.stringify(userSigned), tokenUses: await redis.hget(key, "maxPending") ?? "" });
    factory = await start();
    expect(factory.queues()[0]).toMatchObject({ maxPending: 42, pilotsPerMinute: 600, tokenUses: 3, targetIdle: 0 });
  });

  it("audits every refusal with its code and counts it for /metrics (wms_factory_control_refused_total)", async () => {
    const counts = new Map((await factoryControlRefusals(redis, names())).map((r) => [r.code, r.count]));
    // Unsigned (the request and the bare publish), user and service signatures, and at start the
    // plain and the user-signed kept values.
    expect(counts.get(ERR.SEC_NOT_OPERATOR)).toBe(6);
    expect(counts.get(ERR.SEC_NONCE_REPLAYED)).toBe(2);
    expect(counts.get(ERR.SEC_REQUEST_EXPIRED)).toBe(2);
    expect(counts.get(ERR.SEC_UNTRUSTED_CA)).toBe(1);
    expect(counts.get(ERR.SEC_CERT_REVOKED)).toBe(1);
    // The tampered request, and the copied one at start.
    expect(counts.get(ERR.SEC_BAD_SIGNATURE)).toBe(2);
    const audited = (await new AuditLog(redis, names()).recent(100)).filter((e) => e.event === "factory-control-refused");
    expect(audited.length).toBe(14);
    expect(audited.map((e) => e.fields.code)).toContain(String(ERR.SEC_NONCE_REPLAYED));
    expect(audited.every((e) => e.fields.factoryId === FACTORY)).toBe(true);

    // Read as the monitor's own Redis user (read-only) reads it.
    const text = await createMonitorRegistry(new MonitorData(redisAs("monitor"), names())).metrics();
    expect(text).toContain(`wms_factory_control_refused_total{code="${ERR.SEC_NOT_OPERATOR}"} 6`);
    expect(text).toContain(`wms_factory_control_refused_total{code="${ERR.SEC_NONCE_REPLAYED}"} 2`);
  });
});

describe("someone else answering for the factory", () => {
  it("a pilot, matchmaker or intake subscribing to factory control receives nothing, so cannot answer 'applied'; the operator hears the factory", async () => {
    const rogues = await Promise.all((["pilot", "matchmaker", "intake"] as const).map((r) => natsAs(r)));
    const heard: string[] = [];
    for (const rogue of rogues) {
      rogue.subscribe(names().subjects.factoryControl, {
        callback: (err, m) => {
          if (err) return;
          heard.push(new TextDecoder().decode(m.data));
          m.respond(encoder.encode(JSON.stringify({ schemaVersion: 1, status: "ok", factoryId: FACTORY, queue: QUEUE, knobs: { ...factory.queues()[0], pilotsPerMinute: 0 } })));
        },
      });
    }
    await Promise.all(rogues.map((r) => r.flush().catch(() => undefined)));
    for (let i = 0; i < 3; i++) {
      const reply = await send(signFactoryControl({ ...stop, knobs: { pilotsPerMinute: 500 + i } }, operator));
      expect(reply).toMatchObject({ status: "ok", knobs: { pilotsPerMinute: 500 + i } });
    }
    expect(heard).toEqual([]);
    expect(factory.queues()[0].pilotsPerMinute).toBe(502);
  });
});
