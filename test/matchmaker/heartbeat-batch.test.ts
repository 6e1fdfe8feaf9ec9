// Batched heartbeats on per-site subjects, against the real matchmaker, NATS and Redis: one message
// renews every job a pilot holds, each job gets its own answer, bad input renews nothing, and a
// matchmaker serving some sites answers only theirs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, type EnvelopeBody } from "../../schemas/index.ts";
import { createJobs } from "./fixtures.ts";
import { TestPilot } from "./pilot-client.ts";
import { startHarness, type Harness } from "./service-harness.ts";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("batched heartbeats", () => {
  let h: Harness;
  beforeAll(async () => {
    // A short lease, looked for often: a job left out of its pilot's heartbeats is requeued in seconds.
    h = await startHarness("hbbatch", { lockMs: 3000, stalledIntervalMs: 300 });
  });
  afterAll(async () => {
    await h.close();
  });

  async function pilotWithJobs(site: string, n: number): Promise<{ p: TestPilot; bodies: EnvelopeBody[] }> {
    const specs = await createJobs(h.store, { site }, n);
    await h.dispatch.enqueue(specs);
    const p = new TestPilot(h.nc, h.loaded.names, site, await h.token(site, n + 5));
    const bodies: EnvelopeBody[] = [];
    for (let i = 0; i < n; i++) bodies.push(p.open(await p.advertise(), h.trust));
    return { p, bodies };
  }

  it("renews every job a pilot names in one message, answers each on its own, and lets the one left out expire", async () => {
    const { p, bodies } = await pilotWithJobs("HBB_SITE", 4);
    const [kept1, cancelled, kept2, dropped] = bodies;
    await h.store.transition(cancelled.job.jobId, "cancelled", ["sent", "starting", "running"]);
    const first = await p.heartbeatBatch([kept1, cancelled, kept2, dropped]);
    expect(first.status).toBe("ok");
    if (first.status !== "ok") return;
    expect(first.jobs.map((j) => [j.jobId, j.status])).toEqual([
      [kept1.job.jobId, "ok"],
      [cancelled.job.jobId, "cancelled"],
      [kept2.job.jobId, "ok"],
      [dropped.job.jobId, "ok"],
    ]);
    // Past the lease several times over: the two heartbeated jobs stay this pilot's attempt 1.
    for (const until = Date.now() + 5000; Date.now() < until; ) {
      const r = await p.heartbeatBatch([kept1, kept2]);
      expect(r.status === "ok" && r.jobs.every((j) => j.status === "ok")).toBe(true);
      await sleep(300);
    }
    // The first beat confirmed each claim (sent -> starting).
    for (const b of [kept1, kept2]) expect(await h.store.getJob(b.job.jobId)).toMatchObject({ state: "starting", attempt: 1, pilotId: p.pilotId });
    // The job no heartbeat named since its first lost its lease: requeued as attempt 2, and its pilot is told to stop.
    await expect.poll(async () => (await h.store.getJob(dropped.job.jobId))?.attempt, { timeout: 15_000 }).toBe(2);
    const late = await p.heartbeatBatch([kept1, dropped]);
    expect(late.status === "ok" && late.jobs.map((j) => (j.status === "error" ? j.code : j.status))).toEqual(["ok", ERR.JOB_STALE_UPDATE]);
  });

  it("moves a job to holding when its pilot says the payload ended", async () => {
    const { p, bodies } = await pilotWithJobs("HBB_HOLD", 2);
    const r = await p.heartbeatBatch([bodies[0]], { state: "holding" });
    expect(r.status === "ok" && r.jobs[0].status).toBe("ok");
    expect((await h.store.getJob(bodies[0].job.jobId))?.state).toBe("holding");
    expect((await h.store.getJob(bodies[1].job.jobId))?.state).toBe("sent");
  });

  it("refuses a bad heartbeat whole with E1001 and changes nothing (no job moves to holding)", async () => {
    const { p, bodies } = await pilotWithJobs("HBB_BAD", 2);
    const [a, b] = bodies;
    const refusals = [
      // the same job twice
      await p.heartbeatBatch([a, b, a], { state: "holding" }),
      // sent on another site's subject
      await p.heartbeatBatch([a, b], { state: "holding", subject: h.loaded.names.heartbeatFor("OTHER_SITE") }),
      // an unknown field, an old single-job field
      await p.heartbeatBatch([a, b], { state: "holding", overrides: { jobId: a.job.jobId } }),
      // no jobs at all
      await p.heartbeatBatch([], { state: "holding" }),
    ];
    for (const r of refusals) expect(r).toMatchObject({ status: "error", code: ERR.BAD_INPUT });
    expect(refusals[1].status === "error" && refusals[1].message).toMatch(/site 'HBB_BAD' sent on the subject of site 'OTHER_SITE'/);
    for (const x of [a, b]) expect((await h.store.getJob(x.job.jobId))?.state).toBe("sent");
    // Not JSON at all: the same code, in one line.
    const raw = await h.nc.request(h.loaded.names.heartbeatFor("HBB_BAD"), new TextEncoder().encode("{not json"), { timeout: 15_000 });
    expect(JSON.parse(new TextDecoder().decode(raw.data))).toMatchObject({ status: "error", code: ERR.BAD_INPUT });
  });

  it("refuses a job whose lock token is for another site, and still renews the others", async () => {
    const { p, bodies } = await pilotWithJobs("HBB_TOK", 1);
    // The same pilot holds a job at another site too, with its genuine heartbeat key: only the site differs.
    const [elsewhere] = await createJobs(h.store, { site: "HBB_TOK2" }, 1);
    await h.dispatch.enqueue([elsewhere]);
    const q = p.atSite("HBB_TOK2", await h.token("HBB_TOK2"));
    const foreign = q.open(await q.advertise(), h.trust);
    const r = await p.heartbeatBatch([bodies[0], foreign]);
    expect(r.status === "ok" && r.jobs.map((j) => (j.status === "error" ? j.code : j.status))).toEqual(["ok", ERR.MATCH_LOCK_LOST]);
  });
});

describe("matchmakers partitioned by site", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness("hbpart", { serveSites: ["PART_A", "PART.DOT"] });
  });
  afterAll(async () => {
    await h.close();
  });

  it("answers adverts and heartbeats of the sites it serves only; another site's find no responder", async () => {
    const [job] = await createJobs(h.store, { site: "PART.DOT" }, 1);
    await h.dispatch.enqueue([job]);
    const served = new TestPilot(h.nc, h.loaded.names, "PART.DOT", await h.token("PART.DOT"));
    const body = served.open(await served.advertise(), h.trust);
    expect(body.job.jobId).toBe(job.jobId);
    const beat = await served.heartbeatBatch([body]);
    expect(beat.status === "ok" && beat.jobs[0].status).toBe("ok");
    expect((await new TestPilot(h.nc, h.loaded.names, "PART_A", await h.token("PART_A")).advertise()).status).toBe("nomatch");
    const other = new TestPilot(h.nc, h.loaded.names, "PART_B", await h.token("PART_B"));
    await expect(other.advertise({}, 1500)).rejects.toThrow(/503|no responders|TIMEOUT/i);
  });
});
