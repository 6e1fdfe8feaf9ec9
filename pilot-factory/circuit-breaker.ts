// A circuit breaker per queue, pure: after `breakerAfter` consecutive failed submissions or pilots
// missed before they were ever heard from, the queue stops submitting and backs off, doubling the
// wait each time the trial pilot fails too (Harvester throttles a queue whose workers keep going
// missed the same way). When the wait ends one trial pilot goes out; the first pilot heard from
// closes the breaker. No clock, no I/O: the caller passes `nowMs` and what the cycle saw.

export type BreakerPhase = "closed" | "open" | "half-open";

export interface BreakerReason {
  readonly code: number;
  readonly message: string;
}

export interface BreakerState {
  readonly phase: BreakerPhase;
  /** Consecutive failures since the last pilot that appeared. */
  readonly failures: number;
  /** The current back-off; 0 while closed. */
  readonly backoffMs: number;
  /** While open: when a trial pilot may go. */
  readonly retryAtMs?: number;
  /** Why it opened: the last failure's code and message. */
  readonly reason?: BreakerReason;
}

export interface BreakerKnobs {
  readonly breakerAfter: number;
  readonly breakerMaxSec: number;
  /** The first back-off is one cycle. */
  readonly cycleSec: number;
}

/** What one cycle saw: pilots heard from for the first time, submissions refused plus pending pilots given up as missed, pilots accepted. */
export interface BreakerEvents {
  readonly appeared: number;
  readonly failed: number;
  readonly submitted: number;
  readonly reason?: BreakerReason;
}

export const CLOSED_BREAKER: BreakerState = { phase: "closed", failures: 0, backoffMs: 0 };

/** How many pilots the breaker lets go now: all (closed), one trial once the wait is over (open), none while the trial is out. */
export function breakerAdmits(b: BreakerState, nowMs: number): number {
  if (b.phase === "closed") return Number.POSITIVE_INFINITY;
  if (b.phase === "open" && nowMs >= (b.retryAtMs ?? 0)) return 1;
  return 0;
}

function open(b: BreakerState, knobs: BreakerKnobs, nowMs: number, failures: number, reason: BreakerReason | undefined): BreakerState {
  const first = Math.max(1000, knobs.cycleSec * 1000);
  const max = Math.max(first, knobs.breakerMaxSec * 1000);
  const backoffMs = b.backoffMs > 0 ? Math.min(max, b.backoffMs * 2) : Math.min(max, first);
  return { phase: "open", failures, backoffMs, retryAtMs: nowMs + backoffMs, ...(reason ?? b.reason ? { reason: reason ?? b.reason } : {}) };
}

/**
 * The breaker after a cycle. A pilot heard from is proof the queue works: closed, counts reset
 * (failures seen in the same cycle then count from zero). While a trial is out (half-open), only
 * its fate moves the breaker.
 */
export function breakerAfterCycle(b: BreakerState, ev: BreakerEvents, knobs: BreakerKnobs, nowMs: number): BreakerState {
  const failed = Math.max(0, Math.floor(ev.failed));
  const appeared = Math.max(0, Math.floor(ev.appeared));
  const submitted = Math.max(0, Math.floor(ev.submitted));
  if (appeared > 0) {
    if (failed >= knobs.breakerAfter) return open(CLOSED_BREAKER, knobs, nowMs, failed, ev.reason);
    return { ...CLOSED_BREAKER, failures: failed };
  }
  if (b.phase === "closed") {
    const failures = b.failures + failed;
    if (failures >= knobs.breakerAfter) return open(b, knobs, nowMs, failures, ev.reason);
    return { ...b, failures, ...(failed > 0 && ev.reason ? { reason: ev.reason } : {}) };
  }
  if (failed > 0) return open(b, knobs, nowMs, b.failures + failed, ev.reason);
  // The trial was accepted by the batch system: wait for it to be heard from, or missed.
  if (b.phase === "open" && submitted > 0) {
    const { retryAtMs: _wasDue, ...rest } = b;
    return { ...rest, phase: "half-open" };
  }
  return b;
}
