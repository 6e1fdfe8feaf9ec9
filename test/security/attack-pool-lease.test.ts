// Attacks on the site-central pool-lease service: pilots share one NATS identity and can read
// each other's replies (job ids, attempts, lease tokens), so those alone must not lease or release a
// pool account. Every refusal is answered with its code, changes nothing in the pool, and leaves a
// trace: an audit entry and a count by code.
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMonitorRegistry } from "../../agents/monitor/monitor-metrics.ts";
import { MonitorData } from "../../agents/monitor/monitor-data.ts";
import { ERR, PoolLeaseReply, SCHEMA_VERSION, type PoolLeaseRequest, type Site } from "../../schemas/index.ts";
import { AuditLog } from "../../security/index.ts";
import { poolLeaseRefusals, poolLeaseSignedText } from "../../site-authz/index.ts";
import { openRedisAs } from "../support/live-services.ts";
import { testConfig } from "../support/namespace.ts";
import { PoolFixture, type HeldJob, type TestPoolPilot } from "../site-authz/support/pool-service.ts";
import { identity, siteWith } from "../site-authz/support/site-fixture.ts";

const loaded = testConfig("attackpool");
const { names } = loaded;
const SITE: Site = siteWith({ name: "POOL_ATTACK", identitySwitch: "required", mapping: [{ type: "pool", accounts: ["wmsatk1", "wmsatk2", "wmsatk3", "wmsatk4"], leaseSec: 3600 }] });
const OTHER_SITE: Site = siteWith({ name: "POOL_ATTACK_B", identitySwitch: "required", mapping: [{ type: "pool", accounts: ["wmsatk9"], leaseSec: 3600 }] });
const ALICE = identity("Alice").dn;
const MALLORY = identity("Mallory").dn;
const enc = new TextEncoder();

let fx: PoolFixture;
let honest: TestPoolPilot;
let rogue: TestPoolPilot;

beforeAll(async () => {
  fx = await PoolFixture.start(loaded, [SITE, OTHER_SITE]);
  honest = fx.pilot();
  rogue = fx.pilot();
});

afterAll(async () => {
  await fx?.close();
});

/** A request as a pilot builds it, signed by `signer` (by default the pilot it names). */
function request(p: TestPoolPilot, job: HeldJob, over: Partial<Omit<PoolLeaseRequest, "signature">> = {}, signer: TestPoolPilot = p): PoolLeaseRequest {
  const body: Omit<PoolLeaseRequest, "signature"> = {
    schemaVersion: SCHEMA_VERSION,
    op: "lease",
    site: SITE.name,
    jobId: job.jobId,
    attempt: job.attempt.attempt,
    leaseToken: job.attempt.leaseToken,
    pilotId: p.pilotId,
    issuedAt: Date.now(),
    nonce: randomBytes(18).toString("base64url"),
    dn: ALICE,
    node: "wn1",
    plugin: 0,
    ...over,
  };
  return { ...body, signature: signer.sign(poolLeaseSignedText(body)) };
}

async function send(nc: NatsConnection, body: unknown): Promise<PoolLeaseReply> {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return PoolLeaseReply.parseJson((await nc.request(names.subjects.poolLease, enc.encode(text), { timeout: 10_000 })).data);
}

async function refusedWith(body: unknown, code: number): Promise<void> {
  const reply = await send(fx.pilotNc, body);
  expect(reply).toMatchObject({ status: "error", code });
}

async function traces(): Promise<{ audited: number; counted: number }> {
  const audited = (await new AuditLog(fx.reader, names).recent(1000)).filter((e) => e.event === "pool-lease-refused").length;
  const counted = (await poolLeaseRefusals(fx.reader, names)).reduce((n, r) => n + r.count, 0);
  return { audited, counted };
}

/** Asserts that `attack` was refused with `code`, audited, counted, and leased nothing. */
async function expectRefusedAndTraced(attack: () => Promise<void>, why: RegExp): Promise<void> {
  const before = await traces();
  const leasesBefore = await fx.leases(SITE);
  await attack();
  const after = await traces();
  expect(after.counted).toBe(before.counted + 1);
  expect(after.audited).toBe(before.audited + 1);
  const newest = (await new AuditLog(fx.reader, names).recent(1))[0];
  expect(newest?.event).toBe("pool-lease-refused");
  expect(newest?.fields.reason).toMatch(why);
  expect(await fx.leases(SITE)).toEqual(leasesBefore);
}

describe("attacks on the pool-lease service", () => {
  it("leases for the pilot that holds a running attempt of the DN's job", async () => {
    const job = await honest.hold(SITE, ALICE);
    const reply = await send(fx.pilotNc, request(honest, job));
    expect(reply).toMatchObject({ status: "ok", op: "lease", lease: "new" });
    const leases = await fx.leases(SITE);
    expect(leases.find((l) => l.dn === ALICE)?.holders).toEqual([`wn1/${job.jobId}`]);
  });

  it("refuses a pilot leasing for a job another pilot holds, under its own name or the holder's (E1808), and traces it", async () => {
    const job = await honest.hold(SITE, ALICE);
    // It read the job id, attempt and lease token off the shared inbox.
    await expectRefusedAndTraced(() => refusedWith(request(rogue, job), ERR.POOL_LEASE_REFUSED), /is not held by/);
    // Naming the holder does not help: it cannot sign with the holder's report key.
    await expectRefusedAndTraced(() => refusedWith(request(honest, job, {}, rogue), ERR.POOL_LEASE_REFUSED), /not signed by the report key/);
  });

  it("refuses a lease for another DN than the job's owner (E1808), and traces it", async () => {
    const job = await honest.hold(SITE, ALICE);
    await expectRefusedAndTraced(() => refusedWith(request(honest, job, { dn: MALLORY }), ERR.POOL_LEASE_REFUSED), /belongs to .*CN=Alice, not .*CN=Mallory/);
  });

  it("refuses a lease at another site than the job's (E1808)", async () => {
    const job = await honest.hold(SITE, ALICE);
    await expectRefusedAndTraced(() => refusedWith(request(honest, job, { site: OTHER_SITE.name }), ERR.POOL_LEASE_REFUSED), /runs at site POOL_ATTACK, not POOL_ATTACK_B/);
  });

  it("refuses a stale attempt once the job was requeued, and a lease for an attempt that is over; its clean release still counts", async () => {
    const job = await honest.hold(SITE, ALICE);
    await fx.store.transition(job.jobId, "activated", ["running"], { attempt: 2, pilotId: "", leaseToken: "" });
    await expectRefusedAndTraced(() => refusedWith(request(honest, job), ERR.POOL_LEASE_REFUSED), /is over/);
    // The new attempt's lease token, seen on the wire, with the old attempt's pilot: not held by it.
    await fx.store.transition(job.jobId, "sent", ["activated"], { pilotId: rogue.pilotId, leaseToken: "lease-of-attempt-2", reportKey: rogue.publicKey });
    await expectRefusedAndTraced(() => refusedWith(request(honest, { jobId: job.jobId, attempt: { attempt: 2, leaseToken: "lease-of-attempt-2" } }), ERR.POOL_LEASE_REFUSED), /not held by/);

    // A release from the ended attempt's pilot (it was cleaning up when the job was requeued) is admitted.
    const held = await honest.hold(SITE, identity("Carol").dn);
    const leased = await send(fx.pilotNc, request(honest, held, { dn: identity("Carol").dn }));
    expect(leased).toMatchObject({ status: "ok", lease: "new" });
    const account = leased.status === "ok" && leased.op === "lease" ? leased.account : "";
    await fx.store.transition(held.jobId, "failed", ["running"], { errorCode: ERR.PILOT_LOST_HEARTBEAT });
    await expectRefusedAndTraced(() => refusedWith(request(honest, held, { dn: identity("Carol").dn }), ERR.POOL_LEASE_REFUSED), /is failed/);
    const released = await send(fx.pilotNc, request(honest, held, { op: "release", dn: identity("Carol").dn, account, clean: true }));
    expect(released).toMatchObject({ status: "ok", op: "release", release: "released", holdersLeft: 0 });
  });

  it("refuses a release by a pilot that does not hold the job: the account stays out of the pool", async () => {
    const dn = identity("Dave").dn;
    const job = await honest.hold(SITE, dn);
    const leased = await send(fx.pilotNc, request(honest, job, { dn }));
    const account = leased.status === "ok" && leased.op === "lease" ? leased.account : "";
    expect(account).not.toBe("");
    await expectRefusedAndTraced(() => refusedWith(request(rogue, job, { op: "release", dn, account, clean: true }), ERR.POOL_LEASE_REFUSED), /is not held by/);
    expect((await fx.leases(SITE)).find((l) => l.account === account)?.holders).toEqual([`wn1/${job.jobId}`]);
  });

  it("takes a signed request whose fields arrive in another order, and refuses one with a field changed after signing (E1808)", async () => {
    const job = await honest.hold(SITE, ALICE);
    // What another client library, or a relay that re-serialises JSON, may send: the same fields reversed.
    const signed = request(honest, job);
    const reordered = Object.fromEntries(Object.entries(signed).reverse());
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(signed));
    expect(await send(fx.pilotNc, reordered)).toMatchObject({ status: "ok", op: "lease" });
    // Another node named after the signature was made: everything else still holds, the signature does not.
    const tampered = { ...request(honest, job), node: "wn2" };
    await expectRefusedAndTraced(() => refusedWith(tampered, ERR.POOL_LEASE_REFUSED), /not signed by the report key/);
  });

  it("refuses a replayed request (E1706) and one outside its time window (E1720)", async () => {
    const dn = identity("Eve").dn;
    const job = await honest.hold(SITE, dn);
    const once = request(honest, job, { dn, op: "release", account: "wmsatk1", clean: true });
    expect(await send(fx.pilotNc, once)).toMatchObject({ status: "ok", op: "release" });
    await expectRefusedAndTraced(() => refusedWith(once, ERR.SEC_NONCE_REPLAYED), /replay/);
    await expectRefusedAndTraced(() => refusedWith(request(honest, job, { dn, issuedAt: Date.now() - 10 * 60_000 }), ERR.SEC_REQUEST_EXPIRED), /too old/);
  });

  it("counts every refusal by code on the monitor's /metrics (wms_pool_lease_refused_total)", async () => {
    const job = await honest.hold(SITE, ALICE);
    await refusedWith(request(rogue, job), ERR.POOL_LEASE_REFUSED);
    const counts = new Map((await poolLeaseRefusals(fx.reader, names)).map((r) => [r.code, r.count]));
    expect(counts.get(ERR.POOL_LEASE_REFUSED)).toBeGreaterThan(0);
    // Read as the monitor's own Redis user (read-only) reads it.
    const monitor = openRedisAs(loaded, "monitor");
    try {
      const text = await createMonitorRegistry(new MonitorData(monitor, names)).metrics();
      expect(text).toContain(`wms_pool_lease_refused_total{code="${ERR.POOL_LEASE_REFUSED}"} ${counts.get(ERR.POOL_LEASE_REFUSED)}`);
      expect(text).toContain(`wms_pool_lease_refused_total{code="${ERR.SEC_NONCE_REPLAYED}"} ${counts.get(ERR.SEC_NONCE_REPLAYED) ?? 0}`);
    } finally {
      monitor.disconnect();
    }
  });

  it("answers bad input with a coded error and changes nothing", async () => {
    const leases = await fx.leases(SITE);
    await refusedWith("{not json", ERR.BAD_INPUT);
    await refusedWith({ schemaVersion: 1, op: "lease" }, ERR.BAD_INPUT);
    const job = await honest.hold(SITE, ALICE);
    // The accounts come from the service's site file, never from the request.
    await refusedWith({ ...request(honest, job), accounts: ["root"] }, ERR.BAD_INPUT);
    await refusedWith(request(honest, job, { plugin: 3 }), ERR.BAD_INPUT);
    await refusedWith(request(honest, job, { op: "release", account: "root", clean: true }), ERR.BAD_INPUT);
    expect(await fx.leases(SITE)).toEqual(leases);
  });
});
