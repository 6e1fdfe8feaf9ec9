// Attacks by anyone who can publish to the reports exchange (a pilot, or a payload holding a
// pilot's RabbitMQ identity) and who has seen a victim's job id and lease token (both travel in
// envelopes and heartbeats): forge a state report, an accounting record, an audit record, or
// replay an earlier attempt's report. The real matchmaker binds the honest pilot's report key to
// each attempt; the real agents must refuse every forgery. Each test fails if the attack works.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgents, type AgentsHandle } from "../../agents/job-state/index.ts";
import { auditLog, UsageStore } from "../../agents/accounting/index.ts";
import { DEAD_LETTER_HEADERS, ReportPublisher, ReportRefusals } from "../../agents/reports/index.ts";
import { accountingRecord, auditRecord, stateReport, type JobContext } from "../../agents/pilot/job-reports.ts";
import { createLogger } from "../../platform/logger.ts";
import { ERR, type EnvelopeBody, type Report, type StateReport } from "../../schemas/index.ts";
import { AuditLog, generateReportKey, REFUSAL_AUDITS_PER_MINUTE, signReport } from "../../security/index.ts";
import { jobKeys } from "../../jobs/index.ts";
import { createJobs } from "../matchmaker/fixtures.ts";
import { TestPilot } from "../matchmaker/pilot-client.ts";
import { startHarness, type Harness } from "../matchmaker/service-harness.ts";
import { asRole, roleRabbitUrl } from "../support/test-roles.ts";
import { drainQueue, removeTopology, waitFor } from "../reports/support/rabbit-fixture.ts";

const VICTIM_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Victoria Victim";
const logger = createLogger("test", "silent");

let h: Harness;
let agents: AgentsHandle;
let publisher: ReportPublisher;
const spool = mkdtempSync(join(tmpdir(), "wms-attack-reports-"));
/** Mallory's own report key: a valid Ed25519 key, just not the one bound to anyone's attempt. */
const mallory = generateReportKey();

beforeAll(async () => {
  h = await startHarness("attackreports");
  agents = await startAgents({ config: { ...asRole(h.loaded, "agents").config, pki: { dir: h.pkiDir } }, names: h.loaded.names, redis: h.redis, dispatch: h.dispatch, logger });
  // Reports come in over the pilots' RabbitMQ identity (publish-only), as a rogue pilot's would.
  publisher = new ReportPublisher({ url: h.loaded.config.rabbitmq.url, rabbit: asRole(h.loaded, "pilot").config.rabbitmq, names: h.loaded.names, spoolDir: spool, logger });
});

afterAll(async () => {
  await agents?.stop();
  await publisher?.close();
  await removeTopology(roleRabbitUrl(h.loaded, "agents"), h.loaded.names).catch(() => undefined);
  await h?.close();
  rmSync(spool, { recursive: true, force: true });
});


/** A victim's job matched by an honest pilot through the real matchmaker, and that pilot's report context. */
async function matched(site: string, o: { maxAttempts?: number } = {}): Promise<{ pilot: TestPilot; body: EnvelopeBody; ctx: JobContext }> {
  const [spec] = await createJobs(h.store, { site, userDn: VICTIM_DN, ...o }, 1);
  await h.dispatch.enqueue([spec]);
  const pilot = new TestPilot(h.nc, h.loaded.names, site, await h.token(site));
  const body = pilot.open(await pilot.advertiseUntilMatched(), h.trust);
  expect(body.reportKey).toBe(pilot.reportKey.publicKey);
  return { pilot, body, ctx: { job: body.job, pilotId: pilot.pilotId, lockToken: body.lockToken, submitterDn: body.submitterDn } };
}

const stateOf = async (jobId: string): Promise<string | undefined> => (await h.store.getJob(jobId))?.state;

/** Dead letters drained so far, by message id → reason code (draining takes them off the queue). */
const deadLetters = new Map<string, unknown>();

/** Waits until the report was dead-lettered and returns its reason code. */
async function deadLetterCode(r: Report): Promise<unknown> {
  await waitFor(
    async () => {
      // The dead-letter queue is read as the agents read it: no other role may consume it.
      for (const m of await drainQueue(roleRabbitUrl(h.loaded, "agents"), h.loaded.names.rabbit.queues.deadLetter)) {
        deadLetters.set(String(m.properties.messageId), m.properties.headers?.[DEAD_LETTER_HEADERS.code]);
      }
      return deadLetters.has(r.reportId);
    },
    15_000,
    `dead letter of ${r.reportId}`,
  );
  return deadLetters.get(r.reportId);
}

const refused = async (kind: string, code: number): Promise<number> => (await new ReportRefusals(h.redis, h.loaded.names).counts()).find((c) => c.kind === kind && c.code === code)?.count ?? 0;

describe("attacks on the reports", () => {
  it("refuses a forged StateReport for another user's running job (E1722): the job keeps running and its pilot finishes it", async () => {
    const { pilot, ctx } = await matched("ATTACK_R1");
    const jobId = ctx.job.jobId;
    await publisher.publish(pilot.sign(stateReport(ctx, "running")));
    await waitFor(async () => (await stateOf(jobId)) === "running", 15_000, "running");
    const before = await refused("state", ERR.SEC_REPORT_FORGED);

    // Mallory knows job, attempt, pilot id and lease token. Unsigned, and signed with her own key.
    const unsigned = stateReport(ctx, "failed", { errorCode: ERR.PAYLOAD_FAILED, message: "forged" });
    const ownKey = signReport(stateReport(ctx, "failed", { errorCode: ERR.PAYLOAD_FAILED, message: "forged" }), mallory.privateKey);
    // And a genuine signature over a report she then changed (running → failed).
    const tampered = { ...pilot.sign(stateReport(ctx, "running")), state: "failed" as const, errorCode: ERR.PAYLOAD_FAILED };
    for (const r of [unsigned, ownKey, tampered]) await publisher.publish(r);
    for (const r of [unsigned, ownKey, tampered]) expect(await deadLetterCode(r)).toBe(ERR.SEC_REPORT_FORGED);

    expect(await h.store.getJob(jobId)).toMatchObject({ state: "running", attempt: 1 });
    expect((await h.store.getJob(jobId))?.errorCode).toBeUndefined();
    expect(await refused("state", ERR.SEC_REPORT_FORGED)).toBe(before + 3);
    const audit = await new AuditLog(h.redis, h.loaded.names).recent(50);
    expect(audit.filter((e) => e.event === "report-refused" && e.fields.jobId === jobId && e.fields.code === String(ERR.SEC_REPORT_FORGED))).toHaveLength(3);

    await publisher.publish(pilot.sign(stateReport(ctx, "finished")));
    await waitFor(async () => (await stateOf(jobId)) === "finished", 15_000, "finished by its own pilot");
  });

  it("adds no usage for a forged accounting record of 100 h (E1722), and the pilot's own record still counts", async () => {
    const { pilot, ctx } = await matched("ATTACK_R2");
    const usage = new UsageStore(h.redis, h.loaded.names, h.loaded.config.quotas);
    const before = (await usage.get("user", VICTIM_DN)).wallSec;
    const outcome = { exitCode: 0, signal: null, wallSec: 360_000, userCpuSec: 360_000, sysCpuSec: 0, maxRssKb: 1024, startedAt: Date.now() - 360_000_000, endedAt: Date.now() };
    const forged = [accountingRecord(ctx, outcome), signReport(accountingRecord(ctx, outcome), mallory.privateKey)];
    for (const r of forged) await publisher.publish(r);
    for (const r of forged) expect(await deadLetterCode(r)).toBe(ERR.SEC_REPORT_FORGED);
    expect((await usage.get("user", VICTIM_DN)).wallSec).toBe(before);

    await publisher.publish(pilot.sign(accountingRecord(ctx, { ...outcome, wallSec: 10, userCpuSec: 5, startedAt: Date.now() - 10_000 })));
    await waitFor(async () => (await usage.get("user", VICTIM_DN)).wallSec === before + 10, 15_000, "the honest record");
  });

  it("stores no forged audit record (E1722), neither one naming a job nor one claiming a service's seal", async () => {
    const { pilot, ctx } = await matched("ATTACK_R3");
    const list = auditLog(h.redis, h.loaded.names);
    const fields = { event: "identity-switch" as const, dn: VICTIM_DN, localAccount: "root", pilotId: pilot.pilotId, jobId: ctx.job.jobId, site: ctx.job.site };
    const unsigned = auditRecord(fields);
    const ownKey = signReport({ ...auditRecord(fields), attempt: 1, lockToken: ctx.lockToken }, mallory.privateKey);
    const fakeSeal = { ...auditRecord({ event: "credential-retrieval", dn: VICTIM_DN, detail: "forged" }), serviceSeal: "AAAAAAAAAAAAAAAAAAAAAA.Zm9yZ2Vk" };
    for (const r of [unsigned, ownKey, fakeSeal]) await publisher.publish(r);
    for (const r of [unsigned, ownKey, fakeSeal]) expect(await deadLetterCode(r)).toBe(ERR.SEC_REPORT_FORGED);
    const stored = await list.recent(1000);
    for (const r of [unsigned, ownKey, fakeSeal]) expect(stored.some((s) => s.reportId === r.reportId)).toBe(false);

    const honest = pilot.sign({ ...auditRecord({ ...fields, localAccount: "pool001" }), attempt: 1, lockToken: ctx.lockToken });
    await publisher.publish(honest);
    await waitFor(async () => (await list.recent(1000)).some((s) => s.reportId === honest.reportId), 15_000, "the honest record stored");
  });

  it("refuses a report of a previous attempt once the job runs as the next one (E1904), though its signature is genuine", async () => {
    const first = await matched("ATTACK_R4", { maxAttempts: 3 });
    const jobId = first.ctx.job.jobId;
    // Signed by attempt 1's pilot while it held the job, held back, sent after the requeue.
    const late = first.pilot.sign(stateReport(first.ctx, "finished"));
    await publisher.publish(first.pilot.sign(stateReport(first.ctx, "failed", { errorCode: ERR.PILOT_KILLED, message: "node rebooted" })));
    await waitFor(async () => (await h.store.getJob(jobId))?.attempt === 2, 15_000, "requeued as attempt 2");
    const second = new TestPilot(h.nc, h.loaded.names, "ATTACK_R4", await h.token("ATTACK_R4"));
    const body2 = second.open(await second.advertiseUntilMatched(), h.trust);
    expect(body2.job.attempt).toBe(2);
    const before = await refused("state", ERR.JOB_STALE_UPDATE);

    await publisher.publish(late);
    expect(await deadLetterCode(late)).toBe(ERR.JOB_STALE_UPDATE);
    expect(await h.store.getJob(jobId)).toMatchObject({ state: "sent", attempt: 2, pilotId: second.pilotId });
    expect(await refused("state", ERR.JOB_STALE_UPDATE)).toBe(before + 1);
    // Attempt 1's key does not speak for attempt 2 either.
    const ctx2: JobContext = { job: body2.job, pilotId: second.pilotId, lockToken: body2.lockToken, submitterDn: body2.submitterDn };
    const crossed = first.pilot.sign(stateReport(ctx2, "failed", { errorCode: ERR.PAYLOAD_FAILED }));
    await publisher.publish(crossed);
    expect(await deadLetterCode(crossed)).toBe(ERR.SEC_REPORT_FORGED);
    expect(await stateOf(jobId)).toBe("sent");
  });

  it("refuses reports signed with a report key rewritten into the job's Redis record (E1722), even with a seal copied from the writer's own job", async () => {
    const { pilot, ctx } = await matched("ATTACK_R6");
    const jobId = ctx.job.jobId;
    await publisher.publish(pilot.sign(stateReport(ctx, "running")));
    await waitFor(async () => (await stateOf(jobId)) === "running", 15_000, "running");
    const record = jobKeys(h.loaded.names).task(ctx.job.taskId).job(jobId);
    const honest = await h.redis.hmget(record, "reportKey", "reportKeySeal");
    expect(honest[1]).toBeTruthy();
    // Mallory holds a pilot's identity and a job of her own, so a genuinely sealed binding for her key.
    const own = await matched("ATTACK_R6");
    const ownRecord = jobKeys(h.loaded.names).task(own.ctx.job.taskId).job(own.ctx.job.jobId);
    const [ownKey, ownSeal] = await h.redis.hmget(ownRecord, "reportKey", "reportKeySeal");
    const before = await refused("state", ERR.SEC_REPORT_FORGED);

    const forged: Report[] = [];
    // The key alone, then the key with her own job's seal: neither is the matchmaker's seal over this attempt.
    for (const seal of [honest[1] as string, ownSeal as string]) {
      await h.redis.hset(record, { reportKey: ownKey as string, reportKeySeal: seal });
      const r = own.pilot.sign(stateReport(ctx, "failed", { errorCode: ERR.PAYLOAD_FAILED, message: "forged" }));
      await publisher.publish(r);
      expect(await deadLetterCode(r)).toBe(ERR.SEC_REPORT_FORGED);
      forged.push(r);
    }
    // An accounting record the same way (the agents' other stores check the seal too).
    const outcome = { exitCode: 0, signal: null, wallSec: 360_000, userCpuSec: 360_000, sysCpuSec: 0, maxRssKb: 1024, startedAt: Date.now() - 360_000_000, endedAt: Date.now() };
    const acct = own.pilot.sign(accountingRecord(ctx, outcome));
    await publisher.publish(acct);
    expect(await deadLetterCode(acct)).toBe(ERR.SEC_REPORT_FORGED);
    expect(await h.store.getJob(jobId)).toMatchObject({ state: "running", attempt: 1 });
    expect(await refused("state", ERR.SEC_REPORT_FORGED)).toBe(before + forged.length);

    // The record as the matchmaker wrote it: its own pilot finishes the job.
    await h.redis.hset(record, { reportKey: honest[0] as string, reportKeySeal: honest[1] as string });
    await publisher.publish(pilot.sign(stateReport(ctx, "finished")));
    await waitFor(async () => (await stateOf(jobId)) === "finished", 15_000, "finished by its own pilot");
  });

  it("dead-letters a report naming a state only the services set (E1900), even signed by the pilot that holds the job, and changes nothing", async () => {
    const { pilot, ctx } = await matched("ATTACK_R8");
    const jobId = ctx.job.jobId;
    // Back to the queue (another pilot could then take it as well), or `closed` with no failure to see.
    const claims = (["activated", "defined", "sent", "closed"] as const).map((state) => pilot.sign({ ...stateReport(ctx, "running"), state } as unknown as StateReport));
    for (const r of claims) await publisher.publish(r);
    for (const r of claims) expect(await deadLetterCode(r)).toBe(ERR.REPORT_BAD_SCHEMA);
    expect(await h.store.getJob(jobId)).toMatchObject({ state: "sent", attempt: 1, pilotId: pilot.pilotId });
    // Nothing valid lost: its true report still moves the job.
    await publisher.publish(pilot.sign(stateReport(ctx, "running")));
    await waitFor(async () => (await stateOf(jobId)) === "running", 15_000, "running by its own pilot");
  });

  it("counts every one of a flood of forged reports but writes at most a minute's budget of audit entries (the capped stream keeps its older events)", async () => {
    const { ctx } = await matched("ATTACK_R7");
    const before = await refused("state", ERR.SEC_REPORT_FORGED);
    const FLOOD = 300;
    for (let i = 0; i < FLOOD; i++) await publisher.publish(stateReport(ctx, "failed", { errorCode: ERR.PAYLOAD_FAILED, message: `forged ${i}` }));
    await waitFor(async () => (await refused("state", ERR.SEC_REPORT_FORGED)) === before + FLOOD, 60_000, "every forged report refused and counted");
    expect(await stateOf(ctx.job.jobId)).toBe("sent");
    const audit = await new AuditLog(h.redis, h.loaded.names).recent(10_000);
    const written = audit.filter((e) => e.event === "report-refused" && e.fields.jobId === ctx.job.jobId).length;
    // At most one window's budget, or two should the flood straddle a minute; never one entry per report.
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThanOrEqual(2 * REFUSAL_AUDITS_PER_MINUTE);
  });

  it("applies a signed report spooled through a broker outage when it is resent", async () => {
    const { pilot, ctx } = await matched("ATTACK_R5");
    const outageSpool = mkdtempSync(join(tmpdir(), "wms-attack-spool-"));
    try {
      // Nothing listens on port 1: the report goes to the spool, signed.
      const down = new ReportPublisher({ url: "amqp://guest:guest@127.0.0.1:1", names: h.loaded.names, spoolDir: outageSpool, logger, connectTimeoutMs: 500 });
      await down.publish(pilot.sign(stateReport(ctx, "running")));
      expect(down.spooledCount()).toBe(1);
      await down.close();
      // The broker is back: a new publisher on the same spool resends it as it was.
      const up = new ReportPublisher({ url: h.loaded.config.rabbitmq.url, rabbit: asRole(h.loaded, "pilot").config.rabbitmq, names: h.loaded.names, spoolDir: outageSpool, logger });
      expect(await up.flush(15_000)).toBe(true);
      await up.close();
      await waitFor(async () => (await stateOf(ctx.job.jobId)) === "running", 15_000, "the spooled report applied");
    } finally {
      rmSync(outageSpool, { recursive: true, force: true });
    }
  });
});

describe("a pilot that holds a job and accounts for it", () => {
  const usage = (): UsageStore => new UsageStore(h.redis, h.loaded.names, h.loaded.config.quotas);
  const BYSTANDER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Bob Bystander";
  const outcome = (wallSec: number) => ({ exitCode: 0, signal: null, wallSec, userCpuSec: wallSec, sysCpuSec: 0, maxRssKb: 1024, startedAt: Date.now() - wallSec * 1000, endedAt: Date.now() });

  it("charges no other user, group, VO or site, nor more than the job's walltime, with a record its own key signs (E1726); its true record counts", async () => {
    const { pilot, ctx } = await matched("ATTACK_A1");
    const u = usage();
    const was = { bob: await u.get("user", BYSTANDER_DN), victim: await u.get("user", VICTIM_DN), group: await u.get("group", "cms/higgs"), vo: await u.get("vo", "cms"), site: await u.get("site", "ATTACK_A1_OTHER") };
    const before = await refused("accounting", ERR.SEC_REPORT_MISATTRIBUTED);
    // Genuinely signed by the pilot that holds the attempt, fence and all: only whom it charges is a lie.
    const honest = accountingRecord(ctx, outcome(100));
    const lies = [
      { ...honest, reportId: "acct-lie-user-" + ctx.job.jobId, userDn: BYSTANDER_DN },
      { ...honest, reportId: "acct-lie-group-" + ctx.job.jobId, group: "cms/higgs" },
      { ...honest, reportId: "acct-lie-vo-" + ctx.job.jobId, vo: "cms" },
      { ...honest, reportId: "acct-lie-site-" + ctx.job.jobId, site: "ATTACK_A1_OTHER" },
      { ...honest, reportId: "acct-lie-wall-" + ctx.job.jobId, wallSec: ctx.job.walltimeSec * 1000 },
    ].map((r) => pilot.sign(r));
    for (const r of lies) await publisher.publish(r);
    for (const r of lies) expect(await deadLetterCode(r)).toBe(ERR.SEC_REPORT_MISATTRIBUTED);

    expect(await u.get("user", BYSTANDER_DN)).toEqual(was.bob);
    expect(await u.get("user", VICTIM_DN)).toEqual(was.victim);
    expect(await u.get("group", "cms/higgs")).toEqual(was.group);
    expect(await u.get("vo", "cms")).toEqual(was.vo);
    expect(await u.get("site", "ATTACK_A1_OTHER")).toEqual(was.site);
    expect(await refused("accounting", ERR.SEC_REPORT_MISATTRIBUTED)).toBe(before + lies.length);
    const audit = await new AuditLog(h.redis, h.loaded.names).recent(200);
    expect(audit.filter((e) => e.event === "report-refused" && e.fields.jobId === ctx.job.jobId && e.fields.code === String(ERR.SEC_REPORT_MISATTRIBUTED))).toHaveLength(lies.length);

    // Nothing valid lost: the attempt's true record, sent after the lies, still counts.
    await publisher.publish(pilot.sign(honest));
    await waitFor(async () => (await u.get("user", VICTIM_DN)).wallSec === was.victim.wallSec + 100, 15_000, "the true record");
  });

  it("accounts an attempt once: more signed records under new ids add nothing (E1906), a redelivery of the first is a duplicate", async () => {
    const { pilot, ctx } = await matched("ATTACK_A2");
    const u = usage();
    const was = await u.get("user", VICTIM_DN);
    const first = pilot.sign(accountingRecord(ctx, outcome(100)));
    await publisher.publish(first);
    await waitFor(async () => (await u.get("user", VICTIM_DN)).jobs === was.jobs + 1, 15_000, "the first record");
    const stats = agents.consumers.accounting.stats;
    const duplicates = stats.duplicates;

    // The same attempt's record again and again, each under a fresh id and genuinely signed.
    const again = [1, 2, 3].map(() => pilot.sign(accountingRecord(ctx, outcome(100))));
    for (const r of again) await publisher.publish(r);
    for (const r of again) expect(await deadLetterCode(r)).toBe(ERR.REPORT_ATTEMPT_ACCOUNTED);
    // The first one redelivered (a resend from the pilot's spool) is a duplicate, not a refusal.
    await publisher.publish(first);
    await waitFor(async () => stats.duplicates === duplicates + 1, 15_000, "the redelivery seen as a duplicate");

    expect(await u.get("user", VICTIM_DN)).toMatchObject({ jobs: was.jobs + 1, wallSec: was.wallSec + 100 });
    expect(deadLetters.has(first.reportId)).toBe(false);
  });
});
