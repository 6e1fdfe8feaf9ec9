// One evaluation budget per advert: a machine ad whose match would take ages (250 slow regular
// expressions, each of which alone takes a regexp call's whole time allowance) is refused with
// MATCH_BUDGET_EXCEEDED after at most the budget, and the matchmaker keeps answering other pilots.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, type MatchReply } from "../../schemas/index.ts";
import { createJobs } from "./fixtures.ts";
import { TestPilot } from "./pilot-client.ts";
import { startHarness, type Harness } from "./service-harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("mmbudget");
});

afterAll(async () => {
  await h.close();
});

// Catastrophic backtracking V8 cannot hand to its linear-time engine (a backreference): each call
// runs until its time allowance ends. (Without the backreference V8 falls back to linear time after
// a while, and 250 calls cost ~100 ms of CPU in all.)
const SLOW = `regexp("^(a+)+\\\\1$", "${"a".repeat(40)}b")`;

function hostileAd(pilotId: string, site: string): string {
  const attrs = Array.from({ length: 250 }, (_, i) => `  Slow${i} = ${SLOW};`).join("\n");
  const req = Array.from({ length: 250 }, (_, i) => `isError(Slow${i})`).join(" && ");
  return `[\n  MyType = "Machine";\n  PilotId = "${pilotId}";\n  Site = "${site}";\n  Cpus = 8;\n  Memory = 16000;\n${attrs}\n  Requirements = ${req};\n]`;
}

async function timed(p: Promise<MatchReply>): Promise<{ reply: MatchReply; ms: number }> {
  const t0 = performance.now();
  const reply = await p;
  return { reply, ms: performance.now() - t0 };
}

describe("the per-advert evaluation budget", () => {
  it("refuses a machine ad with 250 slow regexps (1506) while other pilots keep their answers", async () => {
    const site = "BUDGET_SITE";
    const jobs = await createJobs(h.store, { site }, 30);
    await h.dispatch.enqueue(jobs);
    const good = new TestPilot(h.nc, h.loaded.names, site, await h.token(site, 100));
    const bad = new TestPilot(h.nc, h.loaded.names, site, await h.token(site, 100));

    // Normal latency, measured in this run.
    const normal: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await timed(good.advertise());
      expect(r.reply.status).toBe("match");
      normal.push(r.ms);
    }

    const hostile = timed(bad.advertise({ classad: hostileAd(bad.pilotId, site) }, 30_000));
    const during: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await timed(good.advertise({}, 30_000));
      expect(r.reply.status).toBe("match");
      during.push(r.ms);
    }
    const refused = await hostile;
    expect(refused.reply).toMatchObject({ status: "error", code: ERR.MATCH_BUDGET_EXCEEDED });
    // The budget is 100 ms of evaluation; without it this advert alone held the event loop for
    // 250 × 200 ms = 50 s. The margins (10 s each) are that far below 50 s so that a loaded CI
    // machine (2 cores, load 20-40, a whole-suite run saw one answer take 1.7 s; the slowest of ten
    // answers is what is bounded) cannot fail them while the unbudgeted evaluation still does, by far.
    expect(refused.ms).toBeLessThan(10_000);
    // Other pilots wait at most for about one budget on top of their normal answer time.
    expect(Math.max(...during)).toBeLessThan(Math.max(...normal) + h.loaded.config.matchmaker.matchBudgetMs + 10_000);

    // The same ad again is refused at once, without evaluating it a second time.
    const again = await timed(bad.advertise({ classad: hostileAd(bad.pilotId, site) }));
    expect(again.reply).toMatchObject({ status: "error", code: ERR.MATCH_BUDGET_EXCEEDED });
    const metrics = await h.mm!.registry.getSingleMetricAsString("wms_matchmaker_errors_total");
    expect(metrics).toMatch(new RegExp(`code="${ERR.MATCH_BUDGET_EXCEEDED}"} 2`));
  });
});
