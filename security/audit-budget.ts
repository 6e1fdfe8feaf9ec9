// A refusal anyone can provoke (a forged heartbeat costs the sender one NATS message) must leave a
// trace without letting a flood fill the audit stream, which is capped (AUDIT_MAXLEN) and would
// lose the older, rarer events it holds. So such refusals are written at most `perWindow` times a
// window per process; the ones past that are counted, and the next entry written says how many
// were left out since the last one. The refusal counters on /metrics count every one.
/**
 * How many refusals of one kind anyone can provoke (forged heartbeats, pilot tokens, reports, pool
 * leases, credential requests) a process writes to the audit stream per minute.
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
  take(): AuditGrant {
    const grant = this.peek();
    if (!grant.write) {
      this.left++;
      return grant;
    }
    this.used++;
    this.left = 0;
    return grant;
  }

  /**
   * What take() would answer now, spending nothing: for an entry written by a script that decides
   * itself whether there is a refusal to record (the one-time key's), take() follows once it did.
   */
  peek(): AuditGrant {
    const now = (this.o.now ?? Date.now)();
    if (now - this.windowStart >= this.o.windowMs) {
      this.windowStart = now;
      this.used = 0;
    }
    return this.used >= this.o.perWindow ? { write: false } : { write: true, omitted: this.left };
  }
}

/** Whether an event may be written; when it may, how many were left out since the last one written. */
export type AuditGrant = { readonly write: true; readonly omitted: number } | { readonly write: false };
