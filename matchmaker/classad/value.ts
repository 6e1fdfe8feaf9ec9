// The values an expression evaluates to. Lists and records keep their element expressions
// unevaluated (as HTCondor does): `{ 1 + 1 }` evaluates to a list whose element is `1 + 1`,
// and each element is evaluated only when a function or a subscript asks for it.
import type { Expr } from "./ast.ts";
import type { ClassAd } from "./classad.ts";

export interface UndefinedValue { readonly kind: "undefined" }
export interface ErrorValue { readonly kind: "error" }
export interface BooleanValue { readonly kind: "boolean"; readonly value: boolean }
/** `value` is exact up to 2^53; beyond that `exact` holds the 64-bit value HTCondor would have. */
export interface IntegerValue { readonly kind: "integer"; readonly value: number; readonly exact?: bigint }
/** `negNaN`: a NaN's sign bit, which HTCondor's printf shows (nan-sign.ts); present only on negative NaNs. */
export interface RealValue { readonly kind: "real"; readonly value: number; readonly negNaN?: true }
export interface StringValue { readonly kind: "string"; readonly value: string }
/**
 * `scope` is the record the list was written in: a subscript evaluates an element there, and records
 * and lists among the elements are enclosed by it. `shared` marks HTCondor's SLIST_VALUE, a list value
 * that owns a copy (split() results, a list fetched by `record["name"]`), which `is` tells from a
 * list written in place (value.h types; operators.cpp compares the types first).
 */
export interface ListValue { readonly kind: "list"; readonly items: readonly Expr[]; readonly scope: ClassAd | null; readonly shared?: true }
/** `shared` marks HTCondor's SCLASSAD_VALUE, a record value that owns a copy (`record["name"]`). */
export interface ClassAdValue { readonly kind: "classad"; readonly ad: ClassAd; readonly shared?: true }
/** HTCondor's ABSOLUTE_TIME_VALUE: seconds since the epoch (UTC) and the zone's offset, seconds east of Greenwich. */
export interface AbsTimeValue { readonly kind: "abstime"; readonly secs: number; readonly offset: number }
/** HTCondor's RELATIVE_TIME_VALUE: a duration in seconds (a double). */
export interface RelTimeValue { readonly kind: "reltime"; readonly secs: number; readonly negNaN?: true }

export type Value =
  | UndefinedValue | ErrorValue | BooleanValue | IntegerValue | RealValue | StringValue | ListValue | ClassAdValue | AbsTimeValue | RelTimeValue;
export type ValueKind = Value["kind"];

export const UNDEFINED: UndefinedValue = Object.freeze({ kind: "undefined" });
export const ERROR: ErrorValue = Object.freeze({ kind: "error" });
export const TRUE: BooleanValue = Object.freeze({ kind: "boolean", value: true });
export const FALSE: BooleanValue = Object.freeze({ kind: "boolean", value: false });

const INT64_MIN = -(2n ** 63n);
const SMALL_INTS: IntegerValue[] = [];
for (let i = -16; i <= 256; i++) SMALL_INTS.push(Object.freeze({ kind: "integer", value: i }));

export function boolValue(b: boolean): BooleanValue {
  return b ? TRUE : FALSE;
}

/** An integer; non-integral or out-of-range numbers are truncated and wrapped like a C `long long`. */
export function intValue(n: number | bigint): IntegerValue {
  if (typeof n === "number") {
    if (Number.isSafeInteger(n)) return n >= -16 && n <= 256 ? SMALL_INTS[n + 16] : { kind: "integer", value: n };
    if (!Number.isFinite(n)) return { kind: "integer", value: Number(INT64_MIN), exact: INT64_MIN };
    n = BigInt(Math.trunc(n));
  }
  const w = BigInt.asIntN(64, n);
  const asNumber = Number(w);
  return Number.isSafeInteger(asNumber) ? intValue(asNumber) : { kind: "integer", value: asNumber, exact: w };
}

/** A real; `negNaN` sets the sign bit of a NaN (ignored for other numbers). */
export function realValue(r: number, negNaN = false): RealValue {
  return negNaN && r !== r ? { kind: "real", value: r, negNaN: true } : { kind: "real", value: r };
}

export function stringValue(s: string): StringValue {
  return { kind: "string", value: s };
}

export function listValue(items: readonly Expr[], scope: ClassAd | null = null): ListValue {
  return { kind: "list", items, scope };
}

export function classAdValue(ad: ClassAd): ClassAdValue {
  return { kind: "classad", ad };
}

export function absTimeValue(secs: number, offset: number): AbsTimeValue {
  return { kind: "abstime", secs, offset };
}

/** A relative time; `negNaN` sets the sign bit of a NaN duration (ignored otherwise). */
export function relTimeValue(secs: number, negNaN = false): RelTimeValue {
  return negNaN && secs !== secs ? { kind: "reltime", secs, negNaN: true } : { kind: "reltime", secs };
}

/** The NaN sign bit a number or duration carries (false for integers, booleans and non-NaNs). */
export function negNaNOf(v: Value): boolean {
  return (v.kind === "real" || v.kind === "reltime") && v.negNaN === true;
}

/** The exact 64-bit value of an integer. */
export function bigOf(v: IntegerValue): bigint {
  return v.exact ?? BigInt(v.value);
}

export function isNumber(v: Value): v is IntegerValue | RealValue | BooleanValue {
  return v.kind === "integer" || v.kind === "real" || v.kind === "boolean";
}

/** HTCondor's IsBooleanValueEquiv: booleans, and numbers (non-zero is true). */
export function truthOf(v: Value): boolean | null {
  if (v.kind === "boolean") return v.value;
  if (v.kind === "integer" || v.kind === "real") return v.value !== 0;
  return null;
}

/** A number as a double (booleans are 0/1), or null. */
export function realOf(v: Value): number | null {
  if (v.kind === "integer" || v.kind === "real") return v.value;
  if (v.kind === "boolean") return v.value ? 1 : 0;
  return null;
}
