// Attacks by a second pilot (or a payload holding its pilot's NATS identity) that reads another
// pilot's match reply off the pilots' shared inbox prefix: it learns the job id, attempt, lease
// token and pilot id, and heartbeats for that job to keep a dead pilot's lease alive, or says
// `holding` to move the job. Against the real matchmaker, NATS and Redis; each test fails if the
// attack works.
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnvelopeBody, ERR, MatchReply, type HeartbeatBatchReply } from "../../schemas/index.ts";
import { AuditLog } from "../../security/index.ts";
import { createJobs } from "../matchmaker/fixtures.ts";
import { TestPilot } from "../matchmaker/pilot-client.ts";
import { startHarness, type Harness } from "../matchmaker/service-harness.ts";
import { asRole } from "../support/test-roles.ts";

const SITE = "ATTACK_HB";
const LOCK_MS = 3000;

let h: Harness;
/** Mallory: another pilot, on a NATS connection of her own as the pilot role. */
let malloryNc: NatsConnection;
let mallory: TestPilot;
/** Every match reply Mallory read off the pilots' inboxes. */
const overheard: EnvelopeBody[] = [];

beforeAll(async () => {
  // A short lease, looked for often: a job whose pilot went silent is requeued within seconds.
  h = await startHarness("attackhb", { lockMs: LOCK_MS, stalledIntervalMs: 300 });
  malloryNc = await h.connect("pilot");
  // Pilots share one inbox prefix (one NATS user for every pilot), and may subscribe under it.
  const prefix = asRole(h.loaded, "pilot").config.nats.inboxPrefix ?? "_INBOX";
  malloryNc.subscribe(`${prefix}.>`, {
    callback: (_e, m) => {
      try {
        const r = MatchReply.parseJson(m.data);
        if (r.status === "match") overheard.push(EnvelopeBody.parseJson(r.envelope.body));
      } catch {
        // not a match reply
      }
    },
  });
  await malloryNc.flush();
  mallory = new TestPilot(malloryNc, h.loaded.names, SITE, await h.token(SITE));
});

afterAll(async () => {
  await h?.close();
});

/** A job matched to an honest pilot through the real matchmaker; Mallory overheard the reply. */
async function victimJob(): Promise<{ victim: TestPilot; body: EnvelopeBody; seen: EnvelopeBody }> {
  const [spec] = await createJobs(h.store, { site: SITE }, 1);
  await h.dispatch.enqueue([spec]);
  const victim = new TestPilot(h.nc, h.loaded.names, SITE, await h.token(SITE));
  // Until the matchmaker has the job queued: a deadline, not a count of tries, as a loaded machine
  // makes each advert slower.
  let reply = await victim.advertise();
  for (const until = Date.now() + 30_000; reply.status === "nomatch" && Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 250));
    reply = await victim.advertise();
  }
  const body = victim.open(reply, h.trust);
  // The premise: what travelled in the reply is in Mallory's hands.
  await expect.poll(() => overheard.some((b) => b.lockToken === body.lockToken), { timeout: 15_000 }).toBe(true);
  const seen = overheard.find((b) => b.lockToken === body.lockToken) as EnvelopeBody;
  expect(seen).toMatchObject({ pilotId: victim.pilotId, job: { jobId: body.job.jobId, attempt: body.job.attempt } });
  return { victim, body, seen };
}

/** Mallory's own genuine job and its heartbeat key: the best key she can hold. */
async function mallorysOwnKey(): Promise<string> {
  const [spec] = await createJobs(h.store, { site: SITE }, 1);
  await h.dispatch.enqueue([spec]);
  const own = mallory.open(await mallory.advertise(), h.trust);
  return mallory.heartbeatKeyOf(own);
}

const refusedCount = async (): Promise<number> => {
  const metric = await h.mm?.registry.getSingleMetric("wms_matchmaker_heartbeat_refusals_total")?.get();
  return metric?.values.find((v) => v.labels.code === String(ERR.SEC_HEARTBEAT_FORGED))?.value ?? 0;
};

const codesOf = (r: HeartbeatBatchReply): unknown[] => (r.status === "ok" ? r.jobs.map((j) => (j.status === "error" ? j.code : j.status)) : [r.code]);

describe("a heartbeat forged from another pilot's overheard match reply", () => {
  it("renews no lease: the dead pilot's job is requeued on time, and every forgery is refused with E1724 and counted", async () => {
    const { victim, body, seen } = await victimJob();
    const ownKey = await mallorysOwnKey();
    expect(codesOf(await victim.heartbeatBatch([body]))).toEqual(["ok"]);
    const countBefore = await refusedCount();
    // The victim dies here. Mallory, posing as it (its pilot id, on its site), keeps the lease "alive".
    const posing = mallory.asPilot(victim.pilotId);
    let forged = 0;
    const deadline = Date.now() + LOCK_MS + 15_000;
    let attempt = 1;
    while (attempt === 1 && Date.now() < deadline) {
      // With her own genuine heartbeat key, and with a key she cannot open (the victim's, sealed to its key).
      for (const r of [await posing.heartbeatBatch([seen], { heartbeatKey: ownKey }), await posing.heartbeatBatch([seen])]) {
        expect(codesOf(r)).toEqual([ERR.SEC_HEARTBEAT_FORGED]);
        forged++;
      }
      // The single-job form on the base subject is checked the same way.
      expect(await posing.heartbeat(seen)).toMatchObject({ status: "error", code: ERR.SEC_HEARTBEAT_FORGED });
      forged++;
      await new Promise((r) => setTimeout(r, 300));
      attempt = (await h.store.getJob(body.job.jobId))?.attempt ?? 0;
    }
    // Requeued as a new attempt within the lease and the stalled check's period, forgeries and all.
    expect(attempt).toBe(2);
    expect(await refusedCount()).toBe(countBefore + forged);
    // The dead pilot's lease token is no good to anyone now, Mallory's key included.
    expect(codesOf(await posing.heartbeatBatch([seen], { heartbeatKey: ownKey }))).toEqual([ERR.SEC_HEARTBEAT_FORGED]);
  });

  it("moves no job to holding, while the real pilot's own holding heartbeat does", async () => {
    const { victim, body, seen } = await victimJob();
    const ownKey = await mallorysOwnKey();
    const posing = mallory.asPilot(victim.pilotId);
    const r = await posing.heartbeatBatch([seen], { state: "holding", heartbeatKey: ownKey });
    expect(codesOf(r)).toEqual([ERR.SEC_HEARTBEAT_FORGED]);
    expect((await h.store.getJob(body.job.jobId))?.state).toBe("sent");
    expect(codesOf(await victim.heartbeatBatch([body], { state: "holding" }))).toEqual(["ok"]);
    expect((await h.store.getJob(body.job.jobId))?.state).toBe("holding");
  });

  it("refuses a replayed heartbeat sent outside the time window (E1720), and a flood fills the audit stream with at most a minute's budget", async () => {
    const { victim, body } = await victimJob();
    const old = Date.now() - 10 * 60_000;
    expect(codesOf(await victim.heartbeatBatch([body], { sentAt: old }))).toEqual([ERR.SEC_REQUEST_EXPIRED]);
    // A time no Date holds (past year 275760): the same per-job refusal, not an internal error for the whole batch.
    expect(codesOf(await victim.heartbeatBatch([body], { sentAt: 8.64e15 + 1 }))).toEqual([ERR.SEC_REQUEST_EXPIRED]);
    expect(codesOf(await victim.heartbeatBatch([body], { sentAt: Number.MAX_SAFE_INTEGER }))).toEqual([ERR.SEC_REQUEST_EXPIRED]);
    const audit = new AuditLog(h.redis, h.loaded.names);
    const audited = async (): Promise<number> => (await audit.recent(10_000)).filter((e) => e.event === "heartbeat-refused").length;
    const posing = mallory.asPilot(victim.pilotId);
    const countBefore = await refusedCount();
    const auditedBefore = await audited();
    const flood = 300;
    const replies = await Promise.all(Array.from({ length: flood }, () => posing.heartbeatBatch([body])));
    expect(replies.every((x) => codesOf(x)[0] === ERR.SEC_HEARTBEAT_FORGED)).toBe(true);
    // Every one counted; the audit stream holds the first ones of the minute, each naming the job and pilot claimed.
    expect(await refusedCount()).toBe(countBefore + flood);
    // The replies do not wait for the audit writes: wait for one of this flood's entries to land
    // rather than a fixed 500 ms, which a loaded machine can outlast.
    await expect
      .poll(async () => (await audit.recent(10_000)).some((e) => e.event === "heartbeat-refused" && e.fields.jobId === body.job.jobId && e.fields.pilotId === victim.pilotId), { timeout: 15_000 })
      .toBe(true);
    // The rest of the flood's writes went out with it on the matchmaker's one Redis connection; give
    // them as long again to land before counting, so the bound below sees them all.
    await new Promise((r) => setTimeout(r, 500));
    // 60 a minute; the flood may straddle the start of a new minute, so at most two minutes' worth.
    expect((await audited()) - auditedBefore).toBeLessThanOrEqual(2 * 60);
  });
});
