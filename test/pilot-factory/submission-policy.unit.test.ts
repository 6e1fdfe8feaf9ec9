import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bucketCapacity, decideSubmission, initialBucket, queuedPilotCap, type PolicyKnobs, type QueueObservation, type RateBucket } from "../../pilot-factory/index.ts";

const knobsArb: fc.Arbitrary<PolicyKnobs> = fc.record({
  targetIdle: fc.integer({ min: 0, max: 50 }),
  maxPending: fc.integer({ min: 0, max: 200 }),
  maxRunning: fc.integer({ min: 0, max: 500 }),
  maxPerCycle: fc.integer({ min: 0, max: 100 }),
  pilotsPerMinute: fc.double({ min: 0, max: 2000, noNaN: true }),
  cycleSec: fc.double({ min: 0.1, max: 3600, noNaN: true }),
  queuedPerJob: fc.option(fc.double({ min: 0, max: 10, noNaN: true }), { nil: undefined }),
});

// Observations as a flaky census might give them: anything from zero to far past every limit.
const obsArb: fc.Arbitrary<QueueObservation> = fc.record({
  waitingJobs: fc.integer({ min: 0, max: 100_000 }),
  pending: fc.integer({ min: 0, max: 1000 }),
  idle: fc.integer({ min: 0, max: 1000 }),
  running: fc.integer({ min: 0, max: 1000 }),
});

const bucketArb: fc.Arbitrary<RateBucket> = fc.record({ tokens: fc.double({ min: 0, max: 5000, noNaN: true }), updatedAtMs: fc.integer({ min: 0, max: 1e12 }) });

/** Cycles every `cycleSec` for `seconds` of simulated time, with unlimited work; returns pilots submitted in [0, seconds). */
function simulate(knobs: PolicyKnobs, seconds: number, startMs = 1_700_000_000_000): number {
  let bucket = initialBucket(knobs, startMs);
  let total = 0;
  for (let t = 0; t < seconds * 1000; t += knobs.cycleSec * 1000) {
    // Pilots start and take work at once: none pending or idle when the next cycle looks.
    const d = decideSubmission(knobs, { waitingJobs: 1_000_000, pending: 0, idle: 0, running: 0 }, bucket, startMs + t);
    bucket = d.bucket;
    total += d.submit;
  }
  return total;
}

describe("submission policy", () => {
  it("never goes over max pending, max running, max per cycle or the rate bucket, whatever it observes", () => {
    fc.assert(
      fc.property(knobsArb, obsArb, bucketArb, fc.integer({ min: 0, max: 1e12 }), (knobs, obs, bucket, now) => {
        const d = decideSubmission(knobs, obs, bucket, now);
        expect(Number.isInteger(d.submit)).toBe(true);
        expect(d.submit).toBeGreaterThanOrEqual(0);
        expect(d.submit).toBeLessThanOrEqual(knobs.maxPerCycle);
        if (d.submit > 0) {
          expect(obs.pending + d.submit).toBeLessThanOrEqual(knobs.maxPending);
          expect(obs.pending + obs.idle + obs.running + d.submit).toBeLessThanOrEqual(knobs.maxRunning);
        }
        expect(d.bucket.tokens).toBeGreaterThanOrEqual(0);
        expect(d.bucket.tokens).toBeLessThanOrEqual(bucketCapacity(knobs));
      }),
      { numRuns: 3000 },
    );
  });

  it("submits nothing for a site without waiting work once target idle pilots sit idle", () => {
    fc.assert(
      fc.property(knobsArb, obsArb, bucketArb, (knobs, obs, bucket) => {
        const idleEnough = { ...obs, waitingJobs: 0, idle: Math.max(obs.idle, knobs.targetIdle) };
        expect(decideSubmission(knobs, idleEnough, bucket, bucket.updatedAtMs + 60_000).submit).toBe(0);
      }),
    );
  });

  it("does not submit more pilots than waiting jobs and the idle target call for", () => {
    fc.assert(
      fc.property(knobsArb, obsArb, bucketArb, (knobs, obs, bucket) => {
        const d = decideSubmission(knobs, obs, bucket, bucket.updatedAtMs + 1000);
        const onTheirWay = obs.pending + obs.idle;
        expect(d.submit).toBeLessThanOrEqual(Math.max(0, obs.waitingJobs - onTheirWay, knobs.targetIdle - onTheirWay));
      }),
    );
  });

  it("submits where work waits, up to the waiting jobs less the pilots already on their way", () => {
    const knobs: PolicyKnobs = { targetIdle: 2, maxPending: 100, maxRunning: 100, maxPerCycle: 100, pilotsPerMinute: 6000, cycleSec: 10 };
    const d = decideSubmission(knobs, { waitingJobs: 12, pending: 3, idle: 1, running: 20 }, initialBucket(knobs, 0), 0);
    expect(d.submit).toBe(8);
    expect(d.reason).toBe("submit");
  });

  it("stops at max pending and says so", () => {
    const knobs: PolicyKnobs = { targetIdle: 0, maxPending: 5, maxRunning: 100, maxPerCycle: 100, pilotsPerMinute: 6000, cycleSec: 10 };
    const d = decideSubmission(knobs, { waitingJobs: 50, pending: 3, idle: 0, running: 0 }, initialBucket(knobs, 0), 0);
    expect(d).toMatchObject({ submit: 2, reason: "max-pending" });
  });

  it("keeps the rate within 10% of pilotsPerMinute over a simulated minute", () => {
    fc.assert(
      fc.property(fc.integer({ min: 10, max: 600 }), fc.double({ min: 0.5, max: 6, noNaN: true }), (ppm, cycleSec) => {
        const knobs: PolicyKnobs = { targetIdle: 0, maxPending: 1e6, maxRunning: 1e6, maxPerCycle: 1e6, pilotsPerMinute: ppm, cycleSec };
        const n = simulate(knobs, 60);
        expect(Math.abs(n - ppm)).toBeLessThanOrEqual(ppm * 0.1);
      }),
      { numRuns: 500 },
    );
  });

  it("holds the rate over ten minutes too, so the bucket neither leaks nor hoards", () => {
    const knobs: PolicyKnobs = { targetIdle: 0, maxPending: 1e6, maxRunning: 1e6, maxPerCycle: 1e6, pilotsPerMinute: 37, cycleSec: 7 };
    const n = simulate(knobs, 600);
    expect(Math.abs(n - 370)).toBeLessThanOrEqual(37);
  });

  it("after a quiet spell bursts no more than one cycle's worth plus one", () => {
    const knobs: PolicyKnobs = { targetIdle: 0, maxPending: 1e6, maxRunning: 1e6, maxPerCycle: 1e6, pilotsPerMinute: 60, cycleSec: 5 };
    const quiet = decideSubmission(knobs, { waitingJobs: 0, pending: 0, idle: 0, running: 0 }, initialBucket(knobs, 0), 0);
    expect(quiet.submit).toBe(0);
    const later = decideSubmission(knobs, { waitingJobs: 1000, pending: 0, idle: 0, running: 0 }, quiet.bucket, 3_600_000);
    expect(later.submit).toBe(6);
  });

  it("submits nothing at pilotsPerMinute 0", () => {
    fc.assert(
      fc.property(knobsArb, obsArb, bucketArb, (knobs, obs, bucket) => {
        expect(decideSubmission({ ...knobs, pilotsPerMinute: 0 }, obs, bucket, bucket.updatedAtMs + 3_600_000).submit).toBe(0);
      }),
    );
  });
});

describe("the empty-pilot cap", () => {
  it("never lets pilots waiting for work (pending + idle) exceed the activated jobs times queuedPerJob, whatever else it observes", () => {
    fc.assert(
      fc.property(knobsArb, obsArb, bucketArb, fc.integer({ min: 0, max: 1e12 }), (knobs, obs, bucket, now) => {
        const d = decideSubmission(knobs, obs, bucket, now);
        if (d.submit > 0) expect(obs.pending + obs.idle + d.submit).toBeLessThanOrEqual(queuedPilotCap(knobs, obs.waitingJobs));
      }),
      { numRuns: 3000 },
    );
  });

  it("submits nothing to a site without activated jobs, whatever targetIdle asks", () => {
    fc.assert(
      fc.property(knobsArb, obsArb, bucketArb, (knobs, obs, bucket) => {
        const d = decideSubmission(knobs, { ...obs, waitingJobs: 0 }, bucket, bucket.updatedAtMs + 60_000);
        expect(d.submit).toBe(0);
      }),
    );
  });

  it("lets queuedPerJob pilots wait per job: 4 jobs at 1.5 allow 6, less the 2 already pending", () => {
    const knobs: PolicyKnobs = { targetIdle: 0, maxPending: 100, maxRunning: 100, maxPerCycle: 100, pilotsPerMinute: 6000, cycleSec: 10, queuedPerJob: 1.5 };
    const d = decideSubmission(knobs, { waitingJobs: 4, pending: 2, idle: 0, running: 0 }, initialBucket(knobs, 0), 0);
    expect(d).toMatchObject({ submit: 2, reason: "submit" });
    const capped = decideSubmission({ ...knobs, queuedPerJob: 0.5 }, { waitingJobs: 4, pending: 1, idle: 0, running: 0 }, initialBucket(knobs, 0), 0);
    expect(capped).toMatchObject({ submit: 1, reason: "empty-pilot-cap" });
  });

  it("submits no more than the breaker admits", () => {
    fc.assert(
      fc.property(knobsArb, obsArb, bucketArb, fc.integer({ min: 0, max: 3 }), (knobs, obs, bucket, admits) => {
        expect(decideSubmission(knobs, { ...obs, breakerAdmits: admits }, bucket, bucket.updatedAtMs + 1000).submit).toBeLessThanOrEqual(admits);
      }),
    );
  });
});

describe("the example factory config", () => {
  it("validates against FactoryConfig, defaults filled in", async () => {
    const { readDataFile } = await import("../../platform/config.ts");
    const { FactoryConfig } = await import("../../schemas/index.ts");
    const config = FactoryConfig.parse(readDataFile(new URL("../../pilot-factory/factory.example.yaml", import.meta.url).pathname));
    expect(config.queues.map((q) => q.adapter)).toEqual(["local", "condor", "slurm"]);
    expect(config.queues[1]).toMatchObject({ targetIdle: 2, maxPending: 10, pilotsPerMinute: 20 });
  });
});
