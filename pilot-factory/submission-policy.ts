// How many pilots one queue gets this cycle: pure arithmetic on the queue's knobs, what the census
// and the job queues say, and a token bucket for the rate. No clock, no I/O: the caller passes
// `nowMs`, so tests drive a simulated minute in microseconds.
import type { FactoryQueue } from "../schemas/index.ts";

const clampCount = (n: number): number => (Number.isFinite(n) ? Math.max(0, Math.floor(n)) : 0);

/** What the factory observed about one queue just before deciding. */
export interface QueueObservation {
  /** Jobs waiting at the queue's site (the matchmaker's per-site counter). */
  readonly waitingJobs: number;
  /** Submitted, not yet seen by the census. */
  readonly pending: number;
  /** Alive without a job (`starting` counts here). */
  readonly idle: number;
  /** Running a payload. */
  readonly running: number;
  /** Pilots the queue's circuit breaker lets go now (circuit-breaker.ts `breakerAdmits`); absent: no limit. */
  readonly breakerAdmits?: number;
}

/** Token bucket: `tokens` pilots may be submitted now; refilled at pilotsPerMinute / 60 per second. */
export interface RateBucket {
  readonly tokens: number;
  readonly updatedAtMs: number;
}

export type SubmissionReason = "submit" | "idle-target-reached" | "no-demand" | "empty-pilot-cap" | "breaker-open" | "max-pending" | "max-running" | "max-per-cycle" | "rate";

export interface SubmissionDecision {
  /** Pilots to submit now: a whole number, within every limit. */
  readonly submit: number;
  /** Pilots the demand alone asks for, before the limits. */
  readonly wanted: number;
  /** What bounded `submit` (the first limit that bit, or why there was no demand). */
  readonly reason: SubmissionReason;
  /** The bucket after refill and after spending `submit` tokens; keep it for the next cycle. */
  readonly bucket: RateBucket;
}

export type RateKnobs = Pick<FactoryQueue, "pilotsPerMinute" | "cycleSec">;
export type PolicyKnobs = Pick<FactoryQueue, "targetIdle" | "maxPending" | "maxRunning" | "maxPerCycle" | "pilotsPerMinute" | "cycleSec" | "queuedPerJob">;

/** Default of `queuedPerJob`: one pilot on its way or idle per activated job. */
export const DEFAULT_QUEUED_PER_JOB = 1;

/**
 * Pilots that may wait for work (pending in the batch system or idle) at once: the activated jobs
 * they could run times `queuedPerJob`, rounded up. Harvester caps a queue's new workers by its
 * activated jobs the same way, so a site without work gets no pilots that would only exit empty;
 * `targetIdle` keeps pilots waiting only while there is work for them.
 */
export function queuedPilotCap(knobs: Pick<FactoryQueue, "queuedPerJob">, waitingJobs: number): number {
  const factor = knobs.queuedPerJob ?? DEFAULT_QUEUED_PER_JOB;
  return Number.isFinite(factor) && factor > 0 ? Math.ceil(clampCount(waitingJobs) * factor) : 0;
}

/**
 * One cycle's refill plus one pilot of slack. The slack keeps the fraction left after a whole-number
 * submission from being clipped away (which would run the rate low); one cycle's worth as the cap
 * keeps a queue that sat without work from bursting when work arrives. Zero rate means zero.
 */
export function bucketCapacity(knobs: RateKnobs): number {
  if (knobs.pilotsPerMinute <= 0) return 0;
  return (knobs.pilotsPerMinute / 60) * knobs.cycleSec + 1;
}

/** A new queue starts with one cycle's worth, as if a cycle had just passed. */
export function initialBucket(knobs: RateKnobs, nowMs: number): RateBucket {
  return { tokens: Math.min(bucketCapacity(knobs), (knobs.pilotsPerMinute / 60) * knobs.cycleSec), updatedAtMs: nowMs };
}

/** Adds the tokens earned since the last update; a clock that went back earns nothing. */
export function refillBucket(bucket: RateBucket, knobs: RateKnobs, nowMs: number): RateBucket {
  const elapsedSec = Math.max(0, nowMs - bucket.updatedAtMs) / 1000;
  const earned = (knobs.pilotsPerMinute / 60) * elapsedSec;
  const tokens = Math.max(0, Math.min(bucketCapacity(knobs), bucket.tokens + earned));
  return { tokens, updatedAtMs: Math.max(bucket.updatedAtMs, nowMs) };
}

/**
 * Demand: where work waits, one pilot per waiting job not already covered by a pilot on its way
 * (pending) or waiting for work (idle), and at least enough to keep `targetIdle` pilots idle.
 * Once `targetIdle` pilots sit idle, nothing: the idle ones will take the work, or the work does
 * not suit them and more identical pilots would not either.
 */
export function wantedPilots(knobs: Pick<FactoryQueue, "targetIdle">, obs: QueueObservation): { wanted: number; reason: SubmissionReason } {
  if (obs.idle > 0 && obs.idle >= knobs.targetIdle) return { wanted: 0, reason: "idle-target-reached" };
  const onTheirWay = obs.pending + obs.idle;
  const forWork = obs.waitingJobs - onTheirWay;
  const forIdleTarget = knobs.targetIdle - onTheirWay;
  const wanted = Math.max(0, forWork, forIdleTarget);
  return { wanted, reason: wanted > 0 ? "submit" : "no-demand" };
}


/**
 * The decision. Limits, each a hard ceiling whatever the observation says:
 * - the empty-pilot cap: pending + idle + submit ≤ queuedPilotCap(waitingJobs);
 * - the circuit breaker: submit ≤ breakerAdmits;
 * - maxPending: pending + submit ≤ maxPending;
 * - maxRunning: every pilot alive or on its way may end up running, so
 *   pending + idle + running + submit ≤ maxRunning;
 * - maxPerCycle, and the bucket's whole tokens.
 */
export function decideSubmission(knobs: PolicyKnobs, obs: QueueObservation, bucket: RateBucket, nowMs: number): SubmissionDecision {
  const refilled = refillBucket(bucket, knobs, nowMs);
  const o: QueueObservation = {
    waitingJobs: clampCount(obs.waitingJobs),
    pending: clampCount(obs.pending),
    idle: clampCount(obs.idle),
    running: clampCount(obs.running),
  };
  const demand = wantedPilots(knobs, o);
  const ceilings: ReadonlyArray<readonly [SubmissionReason, number]> = [
    ["empty-pilot-cap", queuedPilotCap(knobs, o.waitingJobs) - o.pending - o.idle],
    ["breaker-open", obs.breakerAdmits === undefined ? Number.POSITIVE_INFINITY : obs.breakerAdmits],
    ["max-pending", knobs.maxPending - o.pending],
    ["max-running", knobs.maxRunning - o.pending - o.idle - o.running],
    ["max-per-cycle", knobs.maxPerCycle],
    ["rate", Math.floor(refilled.tokens)],
  ];
  let submit = demand.wanted;
  let reason = demand.reason;
  for (const [why, ceiling] of ceilings) {
    const c = ceiling === Number.POSITIVE_INFINITY ? ceiling : clampCount(ceiling);
    if (c < submit) {
      submit = c;
      reason = why;
    }
  }
  return { submit, wanted: demand.wanted, reason, bucket: { tokens: refilled.tokens - submit, updatedAtMs: refilled.updatedAtMs } };
}
