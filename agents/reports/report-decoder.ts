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
    return { ok: false, problem: `field /kind must be one of ${JSON.stringify(accepted)}, got ${JSON.stringify(kind)}` };
  }
  const schema = SCHEMAS[kind as ReportKind];
  const problem = schema.problems(value);
  if (problem !== undefined) return { ok: false, problem: `${schema.name}: ${problem}` };
  return { ok: true, report: value as Report };
}
