// A refusal anyone can provoke (a forged heartbeat costs the sender one NATS message) must leave a
// trace without letting a flood fill the audit stream, which is capped (AUDIT_MAXLEN) and would
// lose the older, rarer events it holds. So such refusals are written at most `perWindow` times a
// window per process; the ones past that are counted, and the next entry written says how many
// were left out since the last one. The refusal counters on /metrics count every one.
/**
 * How many refusals of one kind anyone can provoke (forged heartbeats, pilot tokens, reports, pool
 * leases) a process writes to the audit stream per minute.
 */
export const REFUSAL_AUDITS_PER_MINUTE = 60;

/** The budget of one such kind of refusal in one process: REFUSAL_AUDITS_PER_MINUTE a minute. */
export function refusalAuditBudget(): AuditBudget {
  return new AuditBudget({ perWindow: REFUSAL_AUDITS_PER_MINUTE, windowMs: 60_000 });
}

export interface AuditBudgetOptions {
  readonly perWindow: number;
  readonly windowMs: number;
  readonly now?: () => number;
}

export class AuditBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private used = 0;
  private left = 0;

  constructor(private readonly o: AuditBudgetOptions) {}

  /**
   * Whether this event may be written; when it may, `omitted` is how many were not written since
   * the last one that was (to record with it).
   */
  take(): { readonly write: true; readonly omitted: number } | { readonly write: false } {
    const now = (this.o.now ?? Date.now)();
    if (now - this.windowStart >= this.o.windowMs) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.o.perWindow) {
      this.left++;
      return { write: false };
    }
    this.used++;
    const omitted = this.left;
    this.left = 0;
    return { write: true, omitted };
  }
}
