// Where a report enters from the wire: bytes → JSON → the schema of its kind, once. Pure.
import { AccountingRecord, AuditRecord, ErrorReport, LogReport, StateReport, type Message, type Report, type ReportKind } from "../../schemas/index.ts";
import type { TSchema } from "@sinclair/typebox";

const SCHEMAS: Readonly<Record<ReportKind, Message<TSchema>>> = {
  state: StateReport,
  error: ErrorReport,
  accounting: AccountingRecord,
  audit: AuditRecord,
  log: LogReport,
};

export type Decoded = { ok: true; report: Report } | { ok: false; problem: string };

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * A refused value as the dead letter's reason shows it: a string (cut to 64 characters), else its
 * type. Never the value printed whole: JSON.parse reads 100,000 nested arrays, and printing them
 * back overflowed the stack.
 */
function shown(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : String(v);
}

export function decodeReport(bytes: Uint8Array, accepted: readonly ReportKind[]): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (e) {
    return { ok: false, problem: `not valid UTF-8 JSON (${(e as Error).message})` };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return { ok: false, problem: "not a JSON object" };
  const kind = (value as { kind?: unknown }).kind;
  if (typeof kind !== "string" || !accepted.includes(kind as ReportKind)) {
    return { ok: false, problem: `field /kind must be one of ${JSON.stringify(accepted)}, got ${shown(kind)}` };
  }
  const schema = SCHEMAS[kind as ReportKind];
  const problem = schema.problems(value);
  if (problem !== undefined) return { ok: false, problem: `${schema.name}: ${problem}` };
  return { ok: true, report: value as Report };
}
