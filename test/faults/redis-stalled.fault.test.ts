// Redis (a private redis-server) stalls — SIGSTOP, as a long fork, a swapped-out or paused VM stall
// one — for longer than a pilot waits for the answer to its advert, while pilots run 120 jobs, and
// then goes on. Its sockets stay open, so the matchmaker's claims for the adverts that came in
// meanwhile are not refused: they wait, and come back once Redis does, after their pilots stopped
// waiting. Each such reply reaches nobody.
// What must hold: such a claim is given back at once (its job offered again as the same attempt),
// not left claimed until its lease runs out and then requeued as a second attempt of a pilot "lost";
// no job runs twice (a pilot runs nothing before its heartbeat confirmed the claim, and a claim given
// back can no longer be confirmed); every job finishes once, accounted once, counters equal the records.
// Every payload appends a line to the execution log, so a job run twice is seen.
import { describe, expect, it } from "vitest";
import { ADVERT_ANSWER_WAIT_MS } from "../../schemas/index.ts";
import { faultRun } from "../support/pilot-stage.ts";

const JOBS = 120;
// The deployment's lease as a site runs it short: long enough that a job left claimed would still
// be waiting for it when the run is otherwise over, so a claim that was not given back shows up
// as a second attempt ("lost") in the tally.
const LEASE_SEC = 30;
const run = faultRun({ label: "redisstall", site: "REDIS_STALLED", userDn: "/DC=org/DC=pilot-wms/OU=People/CN=Redis Stalled", servers: ["redis"], leaseSec: LEASE_SEC, jobs: JOBS, pilots: 4 });

async function counterValue(name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = run.stage.matchmakerRegistry?.getSingleMetric(name);
  const v = metric ? (await metric.get()).values : [];
  return v.filter((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l)).reduce((n, x) => n + x.value, 0);
}

describe("Redis stalled (SIGSTOP) longer than an advert's wait, mid-run", () => {
  it("gives back the claims that came back after their pilots stopped waiting: no job takes a second attempt or runs twice", async () => {
    await run.start({ sleepSec: 0.2 });
    await run.untilRan(30, 180_000);
    const redis = run.server("redis");
    const stalledAt = Date.now();
    redis.freeze();
    // Longer than the advert's wait: the adverts of pilots that finished a job meanwhile time out.
    await new Promise((r) => setTimeout(r, ADVERT_ANSWER_WAIT_MS + 3000));
    const before = run.stage.executions().size;
    redis.thaw();
    console.info(`Redis stalled for ${Date.now() - stalledAt} ms`);
    expect(before, "jobs must still be waiting when Redis goes on").toBeLessThan(JOBS);

    const tally = await run.expectSettled({ timeoutMs: 240_000 });
    const late = await counterValue("wms_matchmaker_late_claims_given_back_total");
    const unconfirmed = await counterValue("wms_matchmaker_stalled_jobs_total", { outcome: "given-back" });
    console.info(`claims given back: ${late} late (at once), ${unconfirmed} unconfirmed (lease check); jobs ${JOBS}, executions ${[...run.stage.executions().values()].reduce((a, b) => a + b, 0)}, retried ${tally.retried.length}`);
    // The stall caught claims in flight (else this run proved nothing).
    expect(late).toBeGreaterThan(0);
  }, 480_000);
});
