// What a failed attempt leads to, decided by the error code's registry entry (pilot3's recoverable
// list, here the `retryable` column of schemas/error-codes.ts) and the attempts left. Pure.
import { ERR, errorEntry, isRetryable } from "../../schemas/index.ts";

export type FailureDecision =
  | { action: "retry"; nextAttempt: number }
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

export function decideFailure(f: { code: number; message?: string; attempt: number; maxAttempts: number }): FailureDecision {
  const detail = f.message ? `: ${f.message}` : "";
  if (!isRetryable(f.code)) return { action: "fail", code: f.code, message: withTitle(f.code, f.message) };
  if (f.attempt >= f.maxAttempts) {
    // The last attempt's own code stays in the message: "out of attempts" alone tells nobody what to fix.
    return { action: "fail", code: ERR.RETRY_MAX_ATTEMPTS, message: `attempt ${f.attempt} of ${f.maxAttempts} failed with ${describeCode(f.code)}${detail}` };
  }
  return { action: "retry", nextAttempt: f.attempt + 1 };
}
