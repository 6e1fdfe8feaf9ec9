// What a failed attempt leads to: the retry rules (schemas/retry-rules.ts, PanDA's retry-module
// actions) for codes that have one, else the code's registry entry (the `retryable` column) and
// the attempts left. Pure.
import { ERR, errorEntry, isRetryable, retryRuleFor, type RetryRule } from "../../schemas/index.ts";

export type FailureDecision =
  /** `memoryMb`: the next attempt's memory request, when a rule raised it. */
  | { action: "retry"; nextAttempt: number; memoryMb?: number; preempted?: true }
  | { action: "fail"; code: number; message: string };

export function describeCode(code: number): string {
  return `E${code} ${errorEntry(code)?.name ?? "UNKNOWN"}`;
}

/** The registry text, then the detail; a pilot's message that already starts with the text is kept as it is. */
function withTitle(code: number, message: string | undefined): string {
  const title = errorEntry(code)?.message ?? "failed";
  if (!message) return title;
  return message.startsWith(title) ? message : `${title}: ${message}`;
}

export interface FailedAttempt {
  code: number;
  message?: string;
  attempt: number;
  maxAttempts: number;
  /** The failed attempt's memory request; an increase_memory rule needs it. */
  memoryMb?: number;
  /** Earlier attempts the batch system preempted (each raised maxAttempts by one, so none was spent). */
  preemptions?: number;
}

/**
 * Preemptions requeued for free, at most: past this the slot, not the job, is suspect enough that
 * the attempt counts like any other failure (and a job cannot loop forever between evictions).
 */
export const MAX_FREE_PREEMPTIONS = 10;

export function decideFailure(f: FailedAttempt, rules?: readonly RetryRule[]): FailureDecision {
  const detail = f.message ? `: ${f.message}` : "";
  // The batch system took the slot back (HTCondor eviction, a Harvester pilot's SIGTERM): nothing the
  // job did, so the next attempt is free of charge.
  if (f.code === ERR.PILOT_PREEMPTED && (f.preemptions ?? 0) < MAX_FREE_PREEMPTIONS) return { action: "retry", nextAttempt: f.attempt + 1, preempted: true };
  const rule = retryRuleFor(f.code, f.message, rules);
  const action = rule?.action;
  if (action?.kind === "no_retry" || (!action && !isRetryable(f.code))) return { action: "fail", code: f.code, message: withTitle(f.code, f.message) };
  const limit = action?.kind === "limit_retry" ? Math.min(action.attempts, f.maxAttempts) : f.maxAttempts;
  if (f.attempt >= limit) {
    // The last attempt's own code stays in the message: "out of attempts" alone tells nobody what to fix.
    const why = limit < f.maxAttempts ? ` (its retry rule allows ${limit})` : "";
    return { action: "fail", code: ERR.RETRY_MAX_ATTEMPTS, message: `attempt ${f.attempt} of ${limit}${why} failed with ${describeCode(f.code)}${detail}` };
  }
  if (action?.kind === "increase_memory") {
    const from = f.memoryMb ?? 0;
    const memoryMb = Math.min(action.capMb, Math.ceil(from * action.factor));
    // At the cap already: the same request would be killed the same way, so retrying only wastes a slot.
    if (memoryMb <= from) return { action: "fail", code: f.code, message: withTitle(f.code, `${f.message ?? "killed"} (already at the ${action.capMb} MB cap of its retry rule)`) };
    return { action: "retry", nextAttempt: f.attempt + 1, memoryMb };
  }
  return { action: "retry", nextAttempt: f.attempt + 1 };
}
