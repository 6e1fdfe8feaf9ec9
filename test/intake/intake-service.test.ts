import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, SignedTaskBatch, type SignedTaskBatch as SignedTaskBatchT } from "../../schemas/index.ts";
import { createCa, issueFromCa } from "../../security/index.ts";
import { newTaskControl, signTaskControl } from "../../matchmaker/task-control.ts";
import { usageHashKey, usageShard } from "../../agents/accounting/index.ts";
import { lfns, QUOTA_USER_DN, siteConfig, startIntakeHarness, type IntakeHarness } from "./support/intake-harness.ts";

let h: IntakeHarness;

beforeAll(async () => {
  h = await startIntakeHarness("intake", { quotas: { users: { [QUOTA_USER_DN]: 2 }, groups: { heavy: 1000 } } });
  await h.sites.publish(
    siteConfig([
      { name: "CERN", capacity: 300 },
      { name: "BNL", capacity: 100 },
      { name: "TRIUMF", capacity: 100 },
      { name: "DOWN", capacity: 1000, online: false },
    ]),
  );
  // ds.a: even files at CERN+BNL, odd files at CERN only, the last file nowhere.
  const a = lfns("a", 21);
  await h.catalog.addFiles("ds.a", a.filter((_, i) => i % 2 === 0 && i < 20), ["CERN", "BNL"]);
  await h.catalog.addFiles("ds.a", a.filter((_, i) => i % 2 === 1), ["CERN"]);
  await h.catalog.addFiles("ds.a", [a[20]], []);
  // ds.spread: every file at three sites; ds.offline: only at the offline site and at TRIUMF for half.
  await h.catalog.addFiles("ds.spread", lfns("s", 500), ["CERN", "BNL", "TRIUMF"]);
  const off = lfns("o", 4);
  await h.catalog.addFiles("ds.offline", off, ["DOWN"]);
  await h.catalog.addFiles("ds.offline", off.slice(0, 2), ["TRIUMF"]);
});

afterAll(async () => {
  await h?.close();
});

async function codeOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: number }).code;
  }
  return undefined;
}

describe("intake service", () => {
  it("queues every job at a site holding all its input files and records the submitter's DN on each", async () => {
    const r = await h.client.submit(h.sign(h.batch({ kind: "production", filesPerJob: 2 }), h.people.prod));
    expect(r).toMatchObject({ status: "ok", jobs: 11, queued: 10, unbrokered: 1 });
    const jobs = await h.jobs.listJobs(r.taskId);
    const holders = await h.catalog.sitesHolding("ds.a", lfns("a", 21).map((f) => f.lfn));
    for (const j of jobs) {
      expect(j.spec.userDn).toBe(h.people.prod.dn);
      if (j.state === "activated") for (const f of j.spec.inputFiles) expect(holders.get(f.lfn)).toContain(j.site);
    }
    // Pairs (even, odd): the odd file is only at CERN, so CERN takes every brokered job.
    expect(r.sites).toEqual({ CERN: 10 });
    expect(await h.dispatch.waitingCount("CERN")).toBe(10);
    expect((await h.jobs.getTask(r.taskId))?.ownerDn).toBe(h.people.prod.dn);
  });

  it("fails a job whose data is nowhere with 1600 and does not queue it", async () => {
    const r = await h.client.submit(h.sign(h.batch({ kind: "analysis", maxJobs: 100 }), h.people.alice));
    const failed = await h.jobs.listJobs(r.taskId, { state: "failed" });
    expect(failed.map((j) => [j.spec.inputFiles[0].lfn, j.errorCode])).toEqual([["a/f00020", ERR.INTAKE_NO_REPLICA]]);
    expect(failed[0].errorMessage).toContain("no site holds input file a/f00020");
    expect(await h.dispatch.remove(failed[0].jobId)).toBe(false);
    expect(await h.jobs.taskErrors(r.taskId)).toEqual({ [String(ERR.INTAKE_NO_REPLICA)]: 1 });
  });

  it("spreads jobs over the sites holding the data in proportion to capacity", async () => {
    const before = await Promise.all(["CERN", "BNL", "TRIUMF"].map((s) => h.jobs.siteCounts(s)));
    const r = await h.client.submit(h.sign(h.batch({ kind: "analysis", inputDatasets: ["ds.spread"] }), h.people.alice));
    expect(r.queued).toBe(500);
    // Jobs already queued count against their site, so compare fill levels after the task.
    const after = await Promise.all(["CERN", "BNL", "TRIUMF"].map((s) => h.jobs.siteCounts(s)));
    const fill = after.map((c, i) => c.activated / [300, 100, 100][i]);
    expect(Math.max(...fill) - Math.min(...fill)).toBeLessThanOrEqual(0.011);
    expect(after.reduce((n, c) => n + c.activated, 0) - before.reduce((n, c) => n + c.activated, 0)).toBe(500);
  });

  it("skips offline sites", async () => {
    const r = await h.client.submit(h.sign(h.batch({ kind: "analysis", inputDatasets: ["ds.offline"] }), h.people.bob));
    expect(r).toMatchObject({ jobs: 4, queued: 2, unbrokered: 2, sites: { TRIUMF: 2 } });
    const failed = await h.jobs.listJobs(r.taskId, { state: "failed" });
    expect(failed.every((j) => j.errorMessage?.includes("offline site(s) DOWN"))).toBe(true);
    expect(await h.dispatch.waitingCount("DOWN")).toBe(0);
  });

  it("refuses a production task from a user without the production role, and takes it as analysis", async () => {
    expect(await codeOf(h.client.submit(h.sign(h.batch({ kind: "production" }), h.people.alice)))).toBe(ERR.INTAKE_ROLE_REFUSED);
    expect((await h.client.submit(h.sign(h.batch({ kind: "analysis", maxJobs: 1 }), h.people.alice))).status).toBe("ok");
  });

  it("refuses tasks signed by a pilot certificate or for another VO", async () => {
    expect(await codeOf(h.client.submit(h.sign(h.batch({ kind: "analysis" }), h.people.pilot)))).toBe(ERR.INTAKE_ROLE_REFUSED);
    expect(await codeOf(h.client.submit(h.sign(h.batch({ kind: "production" }), h.people.cmsProd)))).toBe(ERR.INTAKE_ROLE_REFUSED);
  });

  it("refuses an unknown dataset, a bad ClassAd and bad JSON, and records nothing", async () => {
    const before = (await h.jobs.listTasks()).length;
    expect(await codeOf(h.client.submit(h.sign(h.batch({ kind: "analysis", inputDatasets: ["ds.a", "no.such"] }), h.people.alice)))).toBe(ERR.INTAKE_UNKNOWN_DATASET);
    expect(await codeOf(h.client.submit(h.sign(h.batch({ kind: "analysis", jobTemplate: { executable: "/bin/true", requirements: "TARGET.Cores >=" } }), h.people.alice)))).toBe(ERR.INTAKE_BAD_CLASSAD);
    const raw = await h.nc.request(h.loaded.names.subjects.intakeSubmit, new TextEncoder().encode("{not json"), { timeout: 15_000 });
    expect(JSON.parse(new TextDecoder().decode(raw.data))).toMatchObject({ status: "error", code: ERR.BAD_INPUT });
    expect((await h.jobs.listTasks()).length).toBe(before);
  });

  it("refuses a tampered batch and one signed under another CA", async () => {
    const signed = h.sign(h.batch({ kind: "analysis", priority: 1 }), h.people.alice);
    const tampered: SignedTaskBatchT = { ...signed, batch: signed.batch.replace('"priority":1', '"priority":9999') };
    expect(tampered.batch).not.toBe(signed.batch);
    expect(await codeOf(h.client.submit(tampered))).toBe(ERR.SEC_BAD_SIGNATURE);
    const { certChain: _drop, ...unsigned } = signed;
    expect(SignedTaskBatch.problems(unsigned)).toBeDefined();
    expect(await codeOf(h.client.submit(unsigned as SignedTaskBatchT))).toBe(ERR.BAD_INPUT);
    // Mallory runs her own CA with the same names and issues herself Paula's DN and role.
    const otherCa = createCa({ dn: "/DC=org/DC=pilot-wms/OU=atlas/CN=pilot-wms CA", days: 1 });
    const mallory = issueFromCa(otherCa, { kind: "user", dn: h.people.prod.dn, vo: "atlas", roles: ["production"], days: 1 });
    expect(await codeOf(h.client.submit(h.sign(h.batch({ kind: "production" }), { dn: h.people.prod.dn, certChain: [mallory.certPem], keyPem: mallory.keyPem })))).toBe(ERR.SEC_UNTRUSTED_CA);
  });

  it("cancels a queued task: its jobs leave their queues and are marked cancelled", async () => {
    const r = await h.client.submit(h.sign(h.batch({ kind: "analysis", inputDatasets: ["ds.offline"] }), h.people.bob));
    const before = await h.dispatch.waitingCount("TRIUMF");
    const done = await h.cancel(r.taskId, h.people.bob);
    expect(done).toMatchObject({ status: "ok", action: "cancel", affected: 2 });
    expect(await h.dispatch.waitingCount("TRIUMF")).toBe(before - 2);
    const jobs = await h.jobs.listJobs(r.taskId);
    expect(jobs.map((j) => j.state).sort()).toEqual(["cancelled", "cancelled", "failed", "failed"]);
    for (const j of jobs.filter((x) => x.state === "cancelled")) expect(await h.dispatch.remove(j.jobId)).toBe(false);
    expect((await h.jobs.getTask(r.taskId))?.status).toBe("aborted");
    expect(await codeOf(h.cancel(r.taskId, h.people.bob))).toBe(ERR.INTAKE_TASK_FINAL);
  });

  it("refuses a user cancelling or retrying another user's task, and changes nothing", async () => {
    const r = await h.client.submit(h.sign(h.batch({ kind: "analysis", inputDatasets: ["ds.offline"] }), h.people.bob));
    expect(await codeOf(h.cancel(r.taskId, h.people.alice))).toBe(ERR.INTAKE_NOT_OWNER);
    expect(await codeOf(h.retry(r.taskId, h.people.alice))).toBe(ERR.INTAKE_NOT_OWNER);
    expect(await codeOf(h.cancel(r.taskId, h.people.cmsProd))).toBe(ERR.INTAKE_NOT_OWNER);
    expect(await h.jobs.taskCounts(r.taskId)).toMatchObject({ activated: 2, failed: 2, cancelled: 0 });
    expect((await h.cancel(r.taskId, h.people.prod)).affected).toBe(2);
  });

  it("refuses a replayed control request and a forged one", async () => {
    const r = await h.client.submit(h.sign(h.batch({ kind: "analysis", inputDatasets: ["ds.offline"] }), h.people.bob));
    const req = signTaskControl(newTaskControl("retry", r.taskId), h.people.bob);
    expect((await h.client.control(req)).status).toBe("ok");
    expect(await codeOf(h.client.control(req))).toBe(ERR.SEC_NONCE_REPLAYED);
    // Alice signs a cancel, then swaps in Bob's certificate: the signature no longer matches.
    const forged = { ...signTaskControl(newTaskControl("cancel", r.taskId), h.people.alice), certChain: h.people.bob.certChain };
    expect(await codeOf(h.client.control(forged))).toBe(ERR.SEC_BAD_SIGNATURE);
    const stale = signTaskControl(newTaskControl("cancel", r.taskId, Date.now() - 3_600_000), h.people.bob);
    expect(await codeOf(h.client.control(stale))).toBe(ERR.SEC_REQUEST_EXPIRED);
    expect(await codeOf(h.cancel("T999999", h.people.bob))).toBe(ERR.NOT_FOUND);
    expect((await h.jobs.taskCounts(r.taskId)).cancelled).toBe(0);
  });

  it("retries failed jobs only: re-brokered where the data now is, attempt 2, queued once, the failed attempt kept with its code", async () => {
    const r = await h.client.submit(h.sign(h.batch({ kind: "analysis", inputDatasets: ["ds.offline"] }), h.people.bob));
    const [failedBefore, activeBefore] = [await h.jobs.listJobs(r.taskId, { state: "failed" }), await h.jobs.listJobs(r.taskId, { state: "activated" })];
    expect(failedBefore).toHaveLength(2);
    // No site holds them yet: the retry skips them and they stay failed.
    expect(await h.retry(r.taskId, h.people.bob)).toMatchObject({ affected: 0, skipped: 2 });
    for (const f of failedBefore) await h.catalog.addReplica("ds.offline", f.spec.inputFiles[0].lfn, "BNL");
    const bnlBefore = await h.dispatch.waitingCount("BNL");
    expect(await h.retry(r.taskId, h.people.bob)).toMatchObject({ affected: 2, skipped: 0 });
    expect(await h.dispatch.waitingCount("BNL")).toBe(bnlBefore + 2);
    for (const f of failedBefore) {
      const j = await h.jobs.getJob(f.jobId);
      expect(j).toMatchObject({ state: "activated", site: "BNL", attempt: 2, spec: { site: "BNL", attempt: 2 } });
      // The failed attempt keeps how it ended in the job's history (`wms job show`).
      expect(f.errorCode).toBeDefined();
      expect(await h.jobs.attempts(f.jobId)).toMatchObject([{ attempt: 1, state: "failed", errorCode: String(f.errorCode), message: f.errorMessage }]);
    }
    for (const a of activeBefore) expect(await h.jobs.getJob(a.jobId)).toMatchObject({ state: "activated", attempt: 1, site: a.site });
    expect(await h.retry(r.taskId, h.people.bob)).toMatchObject({ affected: 0, skipped: 0 });
    expect(await h.dispatch.waitingCount("BNL")).toBe(bnlBefore + 2);
    // The retried jobs can be cancelled from their new queue.
    expect((await h.cancel(r.taskId, h.people.bob)).affected).toBe(4);
    expect(await h.dispatch.waitingCount("BNL")).toBe(bnlBefore);
  });
});

describe("a large task", () => {
  it("accepts a 10,000-job task: every job recorded activated and on a queue exactly once", async () => {
    const files = lfns("big", 10_000);
    await h.catalog.addFiles("ds.big", files.slice(0, 5000), ["CERN", "BNL"]);
    await h.catalog.addFiles("ds.big", files.slice(5000), ["TRIUMF"]);
    const sites = ["CERN", "BNL", "TRIUMF"];
    const before = await Promise.all(sites.map((s) => h.dispatch.recountWaiting(s)));
    const r = await h.client.submit(h.sign(h.batch({ kind: "production", inputDatasets: ["ds.big"], priority: 500 }), h.people.prod));
    expect(r).toMatchObject({ jobs: 10_000, queued: 10_000, unbrokered: 0 });
    expect(r.sites.TRIUMF).toBe(5000);
    expect((r.sites.CERN ?? 0) + (r.sites.BNL ?? 0)).toBe(5000);
    expect(await h.jobs.taskCounts(r.taskId)).toMatchObject({ activated: 10_000, failed: 0 });
    // Counted from the ready sets themselves, not from the intake's reply or counters.
    const after = await Promise.all(sites.map((s) => h.dispatch.recountWaiting(s)));
    expect(after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0)).toBe(10_000);
    const jobs = await h.jobs.listJobs(r.taskId);
    expect(jobs.map((j) => j.jobId)).toEqual(files.map((_, i) => `${r.taskId}.${String(i).padStart(6, "0")}`));
    expect(jobs.every((j, i) => (i < 5000 ? j.site !== "TRIUMF" : j.site === "TRIUMF") && j.spec.inputFiles[0].lfn === files[i].lfn)).toBe(true);
  }, 120_000);
});

describe("intake quotas", () => {
  it("refuses a user over their wall-time quota and accepts one within it", async () => {
    const usage = { jobs: "3", wallSec: String(3 * 3600), cpuSec: "0", maxRssKb: "0" };
    await h.redis.hset(usageHashKey(h.loaded.names, usageShard(h.loaded.names, QUOTA_USER_DN), "user", QUOTA_USER_DN), usage);
    expect(await codeOf(h.client.submit(h.sign(h.batch({ kind: "analysis", inputDatasets: ["ds.spread"] }), h.people.quentin)))).toBe(ERR.INTAKE_QUOTA_EXCEEDED);
    // Alice has no quota entry, so the same usage does not stop her.
    await h.redis.hset(usageHashKey(h.loaded.names, usageShard(h.loaded.names, h.people.alice.dn), "user", h.people.alice.dn), usage);
    expect((await h.client.submit(h.sign(h.batch({ kind: "analysis", maxJobs: 2 }), h.people.alice))).queued).toBe(2);
    expect((await h.jobs.listTasks()).some((t) => t.ownerDn === QUOTA_USER_DN)).toBe(false);
  });

  it("refuses a group over its quota", async () => {
    await h.redis.hset(usageHashKey(h.loaded.names, usageShard(h.loaded.names, "any user"), "group", "heavy"), { jobs: "1", wallSec: String(1001 * 3600), cpuSec: "0", maxRssKb: "0" });
    expect(await codeOf(h.client.submit(h.sign(h.batch({ kind: "analysis", group: "heavy" }), h.people.alice)))).toBe(ERR.INTAKE_QUOTA_EXCEEDED);
    expect((await h.client.submit(h.sign(h.batch({ kind: "analysis", group: "phys", maxJobs: 1 }), h.people.alice))).queued).toBe(1);
  });
});
