import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { breakerAdmits, breakerAfterCycle, CLOSED_BREAKER, type BreakerEvents, type BreakerKnobs, type BreakerState } from "../../pilot-factory/index.ts";

const knobsArb: fc.Arbitrary<BreakerKnobs> = fc.record({
  breakerAfter: fc.integer({ min: 1, max: 20 }),
  breakerMaxSec: fc.integer({ min: 1, max: 3600 }),
  cycleSec: fc.double({ min: 0.1, max: 600, noNaN: true }),
});

const eventsArb: fc.Arbitrary<BreakerEvents> = fc.record({
  appeared: fc.integer({ min: 0, max: 5 }),
  failed: fc.integer({ min: 0, max: 5 }),
  submitted: fc.integer({ min: 0, max: 5 }),
});

describe("the factory's circuit breaker", () => {
  it("opens after breakerAfter consecutive failures, and not before", () => {
    fc.assert(
      fc.property(knobsArb, (knobs) => {
        let b = CLOSED_BREAKER;
        for (let i = 1; i <= knobs.breakerAfter; i++) {
          b = breakerAfterCycle(b, { appeared: 0, failed: 1, submitted: 0, reason: { code: 1151, message: "refused" } }, knobs, i * 1000);
          expect(b.phase).toBe(i < knobs.breakerAfter ? "closed" : "open");
        }
        expect(b.reason?.code).toBe(1151);
        expect(breakerAdmits(b, knobs.breakerAfter * 1000)).toBe(0);
      }),
    );
  });

  it("while not closed, lets at most one trial pilot go, and only once the back-off is over", () => {
    fc.assert(
      fc.property(knobsArb, fc.array(eventsArb, { minLength: 1, maxLength: 60 }), fc.integer({ min: 100, max: 120_000 }), (knobs, events, stepMs) => {
        let b = CLOSED_BREAKER;
        events.forEach((ev, i) => {
          const now = i * stepMs;
          const admits = breakerAdmits(b, now);
          if (b.phase !== "closed") expect(admits).toBeLessThanOrEqual(1);
          if (b.phase === "open" && now < (b.retryAtMs ?? 0)) expect(admits).toBe(0);
          if (b.phase === "half-open") expect(admits).toBe(0);
          const submitted = Math.min(admits, ev.submitted);
          b = breakerAfterCycle(b, { ...ev, submitted }, knobs, now);
          expect(b.backoffMs).toBeLessThanOrEqual(Math.max(1000, knobs.cycleSec * 1000, knobs.breakerMaxSec * 1000));
        });
      }),
      { numRuns: 1000 },
    );
  });

  it("doubles the back-off each time the trial fails, up to breakerMaxSec, and closes at the first pilot heard from", () => {
    const knobs: BreakerKnobs = { breakerAfter: 2, breakerMaxSec: 30, cycleSec: 5 };
    let b = CLOSED_BREAKER;
    let now = 0;
    for (let i = 0; i < 2; i++) b = breakerAfterCycle(b, { appeared: 0, failed: 1, submitted: 0 }, knobs, (now += 5000));
    const backoffs = [b.backoffMs];
    for (let i = 0; i < 4; i++) {
      now = b.retryAtMs ?? now;
      expect(breakerAdmits(b, now)).toBe(1);
      b = breakerAfterCycle(b, { appeared: 0, failed: 1, submitted: 0 }, knobs, now);
      backoffs.push(b.backoffMs);
    }
    expect(backoffs).toEqual([5000, 10_000, 20_000, 30_000, 30_000]);
    now = b.retryAtMs ?? now;
    // The trial is accepted: half-open, nothing more until it is heard from.
    b = breakerAfterCycle(b, { appeared: 0, failed: 0, submitted: 1 }, knobs, now);
    expect(b.phase).toBe("half-open");
    expect(breakerAdmits(b, now + 1e9)).toBe(0);
    b = breakerAfterCycle(b, { appeared: 1, failed: 0, submitted: 0 }, knobs, now + 1000);
    expect(b).toMatchObject({ phase: "closed", failures: 0, backoffMs: 0 });
    expect(breakerAdmits(b, now + 1000)).toBe(Number.POSITIVE_INFINITY);
  });

  it("a closed breaker has seen fewer than breakerAfter failures in a row, and a pilot heard from with no failure closes it from any state", () => {
    fc.assert(
      fc.property(knobsArb, fc.array(eventsArb, { maxLength: 40 }), (knobs, events) => {
        let b: BreakerState = CLOSED_BREAKER;
        events.forEach((ev, i) => {
          const submitted = Math.min(breakerAdmits(b, i * 1000), ev.submitted);
          b = breakerAfterCycle(b, { ...ev, submitted }, knobs, i * 1000);
          if (b.phase === "closed") expect(b.failures).toBeLessThan(knobs.breakerAfter);
          if (ev.appeared > 0 && ev.failed === 0) expect(b).toMatchObject({ phase: "closed", failures: 0, backoffMs: 0 });
        });
      }),
    );
  });
});
