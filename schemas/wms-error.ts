import { errorEntry, type ErrorCode } from "./error-codes.ts";

/**
 * The one error class callers meet: the registry code tells what went wrong and what to do.
 * `detail` is the situation-specific part ("field /priority must be >= 0").
 */
export class WmsError extends Error {
  readonly code: ErrorCode;
  readonly detail: string;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const entry = errorEntry(code);
    const base = entry?.message ?? "Unknown error";
    super(detail ? `${base}: ${detail}` : base, options);
    this.name = entry?.name ?? "WmsError";
    this.code = code;
    this.detail = detail ?? "";
  }

  /**
   * Rebuilds an error that crossed a wire as `{code, message}` (a reply, a report). Its message
   * already starts with the registry text; the constructor would add it again
   * ("The payload produced no output file: The payload produced no output file: ...").
   */
  static fromReply(r: { readonly code: number; readonly message: string }): WmsError {
    const base = errorEntry(r.code)?.message;
    const detail = base !== undefined && r.message.startsWith(base) ? r.message.slice(base.length).replace(/^: /, "") : r.message;
    return new WmsError(r.code as ErrorCode, detail || undefined);
  }

  /** `E1001 BAD_INPUT: The input does not match its schema: ...` — the one-line form for CLIs and logs. */
  toLine(): string {
    return `E${this.code} ${this.name}: ${this.message}`;
  }

  toReply(): { status: "error"; code: number; name: string; message: string } {
    return { status: "error", code: this.code, name: this.name, message: this.message };
  }
}

export function isWmsError(e: unknown): e is WmsError {
  return e instanceof WmsError;
}
