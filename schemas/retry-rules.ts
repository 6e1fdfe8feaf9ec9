// The retry rules: what a failed attempt with a given error code (and, optionally, a diagnostic
// matching a pattern) leads to, as data beside the error registry. PanDA's retry module keeps the
// same kind of table (actions no_retry, limit_retry, increase_memory, chosen per error code and
// diagnostic). A code without a rule follows the registry's `retryable` column and the job's
// maxAttempts. The first matching rule wins, so a rule with a diagnostic goes before its code's
// catch-all. Pure data and one pure lookup.
import { ERR } from "./error-codes.ts";

export type RetryAction =
  /** Fail at once with the code, whatever the registry's retryable column says. */
  | { readonly kind: "no_retry" }
  /** Retry (even a code the registry calls final) but stop after `attempts` attempts in all (or the job's maxAttempts, if fewer). */
  | { readonly kind: "limit_retry"; readonly attempts: number }
  /** Retry with `factor` times the memory (rounded up) up to `capMb`; a job already at the cap fails with the code. */
  | { readonly kind: "increase_memory"; readonly factor: number; readonly capMb: number };

export interface RetryRule {
  readonly code: number;
  /** Matched against the pilot's diagnostic message; no pattern: every message. */
  readonly diagnostic?: RegExp;
  readonly action: RetryAction;
  /** Why, for operators reading `wms errors` and the log. */
  readonly why: string;
}

export const RETRY_RULES: readonly RetryRule[] = [
  {
    code: ERR.PAYLOAD_MEMORY_EXCEEDED,
    action: { kind: "increase_memory", factor: 1.5, capMb: 65_536 },
    why: "the payload outgrew the memory it asked for; the next attempt asks for half as much again",
  },
  {
    code: ERR.STAGEIN_FILE_MISSING,
    action: { kind: "limit_retry", attempts: 2 },
    why: "one more attempt where the catalog has a replica; a file missing twice is not coming back",
  },
  {
    code: ERR.STAGEIN_CHECKSUM_MISMATCH,
    action: { kind: "limit_retry", attempts: 2 },
    why: "one more attempt from another replica; a second mismatch means the catalog entry is wrong",
  },
];

/** The first rule for this code whose diagnostic pattern (if any) matches the message. */
export function retryRuleFor(code: number, message: string | undefined, rules: readonly RetryRule[] = RETRY_RULES): RetryRule | undefined {
  return rules.find((r) => r.code === code && (r.diagnostic === undefined || r.diagnostic.test(message ?? "")));
}
