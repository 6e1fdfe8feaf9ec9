// A burst of adverts far above matchmaker.maxAdvertsInFlight, against the real matchmaker, NATS and
// Redis: the matchmaker never answers more than the cap at once, every advert still gets its job
// (or, on a machine so loaded that it waited longer than a pilot waits, is dropped unanswered with
// nothing claimed for it), and heartbeats are answered while adverts wait (they are not behind the cap).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Registry } from "prom-client";
import { ADVERT_ANSWER_WAIT_MS, type EnvelopeBody, type MatchReply } from "../../schemas/index.ts";
import { createJobs } from "./fixtures.ts";
import { TestPilot } from "./pilot-client.ts";
import { startHarness, type Harness } from "./service-harness.ts";

const CAP = 4;
const BURST = 120;
const PILOTS = 20;

async function gauge(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values[0]?.value ?? NaN;
}

describe("a burst of adverts above the matchmaker's cap", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness("advburst", { matchmaker: { maxAdvertsInFlight: CAP } });
  });
  afterAll(async () => {
    await h.close();
  });

  it("answers every advert with a job, never more than the cap at once, and answers heartbeats while adverts wait", async () => {
    const site = "BURST_SITE";
    await h.dispatch.enqueue(await createJobs(h.store, { site }, BURST + 1));
    const registry = h.mm!.registry;
    // A pilot already running a job, whose lease its heartbeats keep alive during the burst.
    const runner = new TestPilot(h.nc, h.loaded.names, site, await h.token(site, 5));
    const running: EnvelopeBody = runner.open(await runner.advertise(), h.trust);

    const pilots = await Promise.all(Array.from({ length: PILOTS }, async () => new TestPilot(h.nc, h.loaded.names, site, await h.token(site, BURST / PILOTS + 1))));
    // Waiting a little longer than a pilot does: an advert the matchmaker dropped gets no answer.
    const burst: Promise<MatchReply>[] = Array.from({ length: BURST }, (_, i) => pilots[i % PILOTS].advertise({}, ADVERT_ANSWER_WAIT_MS + 5000));
    let burstDone = false;
    const all = Promise.allSettled(burst).finally(() => (burstDone = true));

    // Heartbeats sent while the burst is answered: each one's answer, and how many adverts were
    // still waiting for a place when it came.
    const heartbeats: Array<{ ok: boolean; waiting: number }> = [];
    while (!burstDone) {
      const r = await runner.heartbeatBatch([running]);
      heartbeats.push({ ok: r.status === "ok" && r.jobs.every((j) => j.status === "ok"), waiting: await gauge(registry, "wms_matchmaker_adverts_waiting") });
    }
    const settled = await all;
    const replies = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));

    // Every advert answered with a job, or dropped as stale (counted) with no job claimed for it:
    // its job is still waiting. On a machine that is not overloaded, none is dropped.
    // A claim that came back after ADVERT_ANSWER_WAIT_MS (a loaded machine) is given back, its job
    // waiting again, counted, and answered `nomatch` (its pilot stopped waiting; this test's wait longer).
    const stale = await gauge(registry, "wms_matchmaker_stale_adverts_total");
    const late = await gauge(registry, "wms_matchmaker_late_claims_given_back_total");
    expect(replies.filter((r) => r.status === "match")).toHaveLength(BURST - stale - late);
    expect(replies.filter((r) => r.status === "nomatch")).toHaveLength(late);
    expect(settled.filter((r) => r.status === "rejected")).toHaveLength(stale);
    expect(stale + late).toBeLessThan(BURST);
    expect((await h.dispatch.waitingCounts())[site] ?? 0).toBe(stale + late);
    // Each a different job (none handed out twice, none to the running pilot's).
    const jobIds = new Set(replies.flatMap((r) => (r.status === "match" ? [(JSON.parse(r.envelope.body) as EnvelopeBody).job.jobId] : [])));
    jobIds.add(running.job.jobId);
    expect(jobIds.size).toBe(BURST - stale - late + 1);
    // The cap held, and the burst reached it (a burst that never filled it would show nothing).
    expect(await gauge(registry, "wms_matchmaker_adverts_in_flight_peak")).toBe(CAP);
    expect(await gauge(registry, "wms_matchmaker_adverts_in_flight")).toBe(0);
    expect(await gauge(registry, "wms_matchmaker_adverts_waiting")).toBe(0);
    // Heartbeats went past the adverts waiting for a place: answered, and at least one while the
    // queue still held adverts (had they queued behind the burst, every one would find it empty).
    expect(heartbeats.length).toBeGreaterThan(0);
    expect(heartbeats.every((b) => b.ok)).toBe(true);
    expect(heartbeats.some((b) => b.waiting > 0)).toBe(true);
    // Its first heartbeat confirmed the claim (sent -> starting); the later ones kept it.
    expect(await h.store.getJob(running.job.jobId)).toMatchObject({ state: "starting", attempt: 1, pilotId: runner.pilotId });
  }, 180_000);
});
