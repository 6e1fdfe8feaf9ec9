// Operator semantics on values, after HTCondor's operators.cpp: strict operators give error
// if either side is error, else undefined if either is undefined; booleans promote to 0/1
// in arithmetic and comparison; `==` on strings ignores case, `is` compares type and case
// exactly; integer arithmetic wraps at 64 bits; real division by zero and real `%` are error.
// Time values (doTimeArithmetic, compareAbsoluteTimes, compareRelativeTimes): abs - abs is a
// relative time, abs +- rel an absolute one (the relative seconds cast to int), rel +- rel and
// rel * / number relative; any other mix is error. Times compare only with their own kind;
// `==` on absolute times ignores the zone offset, `is` does not.
import type { BinaryOp } from "./ast.ts";
import { cInt } from "./c-time.ts";
import { nanSign, negatedNanSign } from "./nan-sign.ts";
import {
  absTimeValue, bigOf, boolValue, ERROR, FALSE, intValue, negNaNOf, realValue, relTimeValue, TRUE, truthOf, UNDEFINED,
  type IntegerValue, type RealValue, type Value,
} from "./value.ts";

export function compareStrings(a: string, b: string, ignoreCase: boolean): number {
  if (ignoreCase) {
    a = a.toLowerCase();
    b = b.toLowerCase();
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** strcasecmp lower-cases ASCII only; our strings are byte strings so toLowerCase must not touch 0x80-0xff. */
export function asciiLower(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(s) ? s.replace(/[A-Z]/g, (c) => c.toLowerCase()) : s.toLowerCase();
}
export function asciiUpper(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(s) ? s.replace(/[a-z]/g, (c) => c.toUpperCase()) : s.toUpperCase();
}

function strcmp(a: string, b: string, ignoreCase: boolean): number {
  if (ignoreCase) {
    a = asciiLower(a);
    b = asciiLower(b);
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpResult(op: BinaryOp, c: number): Value {
  switch (op) {
    case "<": return boolValue(c < 0);
    case "<=": return boolValue(c <= 0);
    case ">": return boolValue(c > 0);
    case ">=": return boolValue(c >= 0);
    case "==": case "is": return boolValue(c === 0);
    default: return boolValue(c !== 0);
  }
}

function realCompare(op: BinaryOp, a: number, b: number): Value {
  switch (op) {
    case "<": return boolValue(a < b);
    case "<=": return boolValue(a <= b);
    case ">": return boolValue(a > b);
    case ">=": return boolValue(a >= b);
    case "==": case "is": return boolValue(a === b);
    default: return boolValue(a !== b);
  }
}

function intCompare(op: BinaryOp, a: IntegerValue, b: IntegerValue): Value {
  if (a.exact === undefined && b.exact === undefined) return realCompare(op, a.value, b.value);
  const x = bigOf(a);
  const y = bigOf(b);
  return cmpResult(op, x < y ? -1 : x > y ? 1 : 0);
}

/** `is` / `isnt`: same type and same value (strings case-sensitive); never undefined or error. */
export function identical(a: Value, b: Value): Value {
  if (a.kind !== b.kind) return FALSE;
  switch (a.kind) {
    case "undefined":
    case "error":
      return TRUE;
    case "boolean":
      return boolValue(a.value === (b as typeof a).value);
    case "integer":
      return intCompare("is", a, b as IntegerValue);
    case "real":
      return boolValue(a.value === (b as typeof a).value);
    case "string":
      return boolValue(a.value === (b as typeof a).value);
    case "abstime":
      return boolValue(a.secs === (b as typeof a).secs && a.offset === (b as typeof a).offset);
    case "reltime":
      return boolValue(a.secs === (b as typeof a).secs);
    default:
      // operators.cpp doComparison: `is` first compares the value types, and a list written in
      // place (LIST_VALUE) is not of the type of one that owns a copy (SLIST_VALUE: split()'s,
      // `record["name"]`'s); two lists or records of the same type are an error even with `is`.
      return (a as { shared?: true }).shared === (b as { shared?: true }).shared ? ERROR : FALSE;
  }
}

export function comparison(op: BinaryOp, a: Value, b: Value): Value {
  if (op === "is") return identical(a, b);
  if (op === "isnt") {
    const r = identical(a, b);
    return r.kind === "boolean" ? boolValue(!r.value) : r;
  }
  if (a.kind === "error" || b.kind === "error") return ERROR;
  if (a.kind === "undefined" || b.kind === "undefined") return UNDEFINED;
  const ka = a.kind;
  const kb = b.kind;
  if (ka === "classad" || kb === "classad" || ka === "list" || kb === "list") return ERROR;
  if (ka === "string" || kb === "string") {
    if (ka !== "string" || kb !== "string") return ERROR;
    return cmpResult(op, strcmp(a.value, (b as typeof a).value, true));
  }
  if (ka === "integer" && kb === "integer") return intCompare(op, a, b);
  if (ka === "abstime" || kb === "abstime") return a.kind === "abstime" && b.kind === "abstime" ? realCompare(op, a.secs, b.secs) : ERROR;
  if (ka === "reltime" || kb === "reltime") return a.kind === "reltime" && b.kind === "reltime" ? realCompare(op, a.secs, b.secs) : ERROR;
  const x = a.kind === "boolean" ? (a.value ? 1 : 0) : a.value;
  const y = b.kind === "boolean" ? (b.value ? 1 : 0) : b.value;
  if (ka === "boolean" && kb === "boolean") return realCompare(op, x, y);
  if ((ka === "integer" || ka === "boolean") && (kb === "integer" || kb === "boolean")) return realCompare(op, x, y);
  return realCompare(op, x, y);
}

function asIntOrReal(v: Value): IntegerValue | RealValue | null {
  if (v.kind === "integer" || v.kind === "real") return v;
  if (v.kind === "boolean") return intValue(v.value ? 1 : 0);
  return null;
}

export function arithmetic(op: BinaryOp, a: Value, b: Value): Value {
  if (a.kind === "error" || b.kind === "error") return ERROR;
  if (a.kind === "undefined" || b.kind === "undefined") return UNDEFINED;
  const x = asIntOrReal(a);
  const y = asIntOrReal(b);
  if (!x || !y) return timeArithmetic(op, a, b);
  if (x.kind === "integer" && y.kind === "integer") {
    if (x.exact === undefined && y.exact === undefined) {
      const p = x.value;
      const q = y.value;
      switch (op) {
        case "+": { const r = p + q; if (Number.isSafeInteger(r)) return intValue(r); break; }
        case "-": { const r = p - q; if (Number.isSafeInteger(r)) return intValue(r); break; }
        case "*": { const r = p * q; if (Number.isSafeInteger(r)) return intValue(r === 0 ? 0 : r); break; }
        // Beyond 2^31 a double quotient can round up across an integer; BigInt below is exact.
        case "/": if (q === 0) return ERROR; if (p < 2147483648 && p > -2147483648 && q < 2147483648 && q > -2147483648) return intValue(Math.trunc(p / q) || 0); break;
        case "%": return q === 0 ? ERROR : intValue(p % q || 0);
      }
    }
    const p = bigOf(x);
    const q = bigOf(y);
    switch (op) {
      case "+": return intValue(p + q);
      case "-": return intValue(p - q);
      case "*": return intValue(p * q);
      case "/":
        if (q === 0n) return ERROR;
        if (p === -(2n ** 63n) && q === -1n) return intValue(2n ** 63n - 1n);
        return intValue(p / q);
      case "%":
        if (q === 0n) return ERROR;
        if (p === -(2n ** 63n) && q === -1n) return intValue(0);
        return intValue(p % q);
      default: return ERROR;
    }
  }
  const p = x.value;
  const q = y.value;
  let r: number;
  switch (op) {
    case "+": r = p + q; break;
    case "-": r = p - q; break;
    case "*": r = p * q; break;
    case "/": r = p / q; break;
    default: return ERROR; // real modulus is an error in HTCondor
  }
  // HTCondor flags only +HUGE_VAL (and never -inf or NaN) as an error.
  if (r === Infinity) return ERROR;
  return r === r ? realValue(r) : realValue(r, nanSign(r, p, negNaNOf(x), q, negNaNOf(y)));
}

/** A duration `r` = `a` op `b` (doubles, as doTimeArithmetic computes it), with its NaN's sign bit. */
function duration(r: number, a: number, aNeg: boolean, b: number, bNeg: boolean): Value {
  return r === r ? relTimeValue(r) : relTimeValue(r, nanSign(r, a, aNeg, b, bNeg));
}

/** doTimeArithmetic, reached when an operand is not a number: only the time combinations HTCondor defines. */
function timeArithmetic(op: BinaryOp, a: Value, b: Value): Value {
  if (a.kind === "abstime") {
    if (b.kind === "reltime" && (op === "+" || op === "-")) return absTimeValue(op === "+" ? a.secs + cInt(b.secs) : a.secs - cInt(b.secs), a.offset);
    if (b.kind === "abstime" && op === "-") return relTimeValue(a.secs - b.secs);
    return ERROR;
  }
  if (a.kind === "reltime") {
    const an = negNaNOf(a);
    if (b.kind === "reltime") {
      const bn = negNaNOf(b);
      return op === "+" ? duration(a.secs + b.secs, a.secs, an, b.secs, bn) : op === "-" ? duration(a.secs - b.secs, a.secs, an, b.secs, bn) : ERROR;
    }
    if (b.kind === "abstime") return op === "+" ? absTimeValue(b.secs + cInt(a.secs), b.offset) : ERROR;
    if (b.kind === "integer" || b.kind === "real") {
      const bn = negNaNOf(b);
      return op === "*" ? duration(a.secs * b.value, a.secs, an, b.value, bn) : op === "/" ? duration(a.secs / b.value, a.secs, an, b.value, bn) : ERROR;
    }
    return ERROR;
  }
  if (b.kind === "reltime" && op === "*" && (a.kind === "integer" || a.kind === "real")) return duration(a.value * b.secs, a.value, negNaNOf(a), b.secs, negNaNOf(b));
  return ERROR;
}

const SIGN = 1n << 63n;

export function bitwise(op: BinaryOp, a: Value, b: Value): Value {
  if (a.kind === "error" || b.kind === "error") return ERROR;
  if (a.kind === "undefined" || b.kind === "undefined") return UNDEFINED;
  if (a.kind !== "integer" || b.kind !== "integer") return ERROR;
  if (op === "&" || op === "|" || op === "^") {
    if (a.exact === undefined && b.exact === undefined && Math.abs(a.value) < 2 ** 31 && Math.abs(b.value) < 2 ** 31) {
      return intValue(op === "&" ? a.value & b.value : op === "|" ? a.value | b.value : a.value ^ b.value);
    }
    const p = bigOf(a);
    const q = bigOf(b);
    return intValue(op === "&" ? p & q : op === "|" ? p | q : p ^ q);
  }
  const p = bigOf(a);
  const q = bigOf(b);
  // x86 masks 64-bit shift counts to six bits; C leaves it undefined, HTCondor gets the x86 result.
  const n = BigInt.asUintN(6, q);
  if (op === "<<") return intValue(BigInt.asIntN(64, p << n));
  if (op === ">>") {
    if (p >= 0n) return intValue(p >> n);
    const times = q < 0n ? 0n : q > 64n ? 64n : q;
    let v = p;
    for (let i = 0n; i < times; i++) v = BigInt.asIntN(64, (v >> 1n) | SIGN);
    return intValue(v);
  }
  // >>>
  if (p >= 0n) return intValue(p >> n);
  const v = BigInt.asUintN(64, p) >> 1n;
  return intValue(v >> BigInt.asUintN(6, q - 1n));
}

export function binary(op: BinaryOp, a: Value, b: Value): Value {
  switch (op) {
    case "+": case "-": case "*": case "/": case "%":
      return arithmetic(op, a, b);
    case "&": case "|": case "^": case "<<": case ">>": case ">>>":
      return bitwise(op, a, b);
    case "&&":
      return logicalAnd(a, b);
    case "||":
      return logicalOr(a, b);
    default:
      return comparison(op, a, b);
  }
}

/** The right side of && once the left is known not to short-circuit. */
export function logicalAnd(a: Value, b: Value): Value {
  const ta = truthOf(a);
  if (ta === false) return FALSE;
  if (a.kind === "error") return ERROR;
  if (ta === null && a.kind !== "undefined") return ERROR;
  const tb = truthOf(b);
  if (tb === null && b.kind !== "undefined" && b.kind !== "error") return ERROR;
  if (ta === true) return tb === null ? b : boolValue(tb);
  // a is undefined
  if (tb === null) return b;
  return tb ? UNDEFINED : FALSE;
}

export function logicalOr(a: Value, b: Value): Value {
  const ta = truthOf(a);
  if (ta === true) return TRUE;
  if (a.kind === "error") return ERROR;
  if (ta === null && a.kind !== "undefined") return ERROR;
  const tb = truthOf(b);
  if (tb === null && b.kind !== "undefined" && b.kind !== "error") return ERROR;
  if (ta === false) return tb === null ? b : boolValue(tb);
  if (tb === null) return b;
  return tb ? TRUE : UNDEFINED;
}

export function unary(op: "+" | "-" | "!" | "~", a: Value): Value {
  switch (op) {
    case "+":
      if (a.kind === "integer" || a.kind === "real" || a.kind === "undefined" || a.kind === "error" || a.kind === "reltime") return a;
      return ERROR;
    case "-":
      if (a.kind === "integer") return a.exact === undefined ? intValue(-a.value || 0) : intValue(-a.exact);
      if (a.kind === "real") return realValue(-a.value, negatedNanSign(a.value, negNaNOf(a)));
      if (a.kind === "reltime") return relTimeValue(-a.secs, negatedNanSign(a.secs, negNaNOf(a)));
      if (a.kind === "undefined" || a.kind === "error") return a;
      return ERROR;
    case "!": {
      if (a.kind === "undefined" || a.kind === "error") return a;
      const t = truthOf(a);
      return t === null ? ERROR : boolValue(!t);
    }
    case "~":
      if (a.kind === "integer") return a.exact === undefined && Math.abs(a.value) < 2 ** 31 ? intValue(~a.value) : intValue(~bigOf(a));
      if (a.kind === "undefined" || a.kind === "error") return a;
      return ERROR;
  }
}
