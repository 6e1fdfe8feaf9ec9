// The built-in functions, after HTCondor's fnCall.cpp (and compat_classad.cpp for the
// stringList* family); the time functions are in time-functions.ts. Arguments arrive as thunks so ifThenElse is lazy like HTCondor's.
// Names are case-insensitive; an unknown name is a parse warning and evaluates to error.
import type { Expr } from "./ast.ts";
import { intFromReal, toIntegerValue, toRealValue, toStringValue } from "./conversions.ts";
import { type EvalState, EvaluationFailed, MAX_EVAL_DEPTH, type Thunk } from "./eval-state.ts";
import { arithmetic, asciiLower, asciiUpper, comparison, identical } from "./operators.ts";
import { Parser } from "./parser.ts";
import { naturalCompare } from "./natural-compare.ts";
import { regexReplace, regexTest, regexValid } from "./regex.ts";
import { evalElement } from "./scope.ts";
import { convTime, currentTime, dayTime, formatTime, getField, splitTime, timeZoneOffset } from "./time-functions.ts";
import { cInt } from "./c-time.ts";
import { cPow } from "./c-pow.ts";
import { nanSign } from "./nan-sign.ts";
import { unresolved } from "./unresolved.ts";
import { evalInEachContext } from "./each-context.ts";
import { scanDouble, splitArb, splitCspn, splitStringList } from "./string-list.ts";
import { unparse } from "./unparse.ts";
import {
  bigOf, boolValue, ERROR, FALSE, intValue, isNumber, negNaNOf, realValue, stringValue, TRUE, truthOf, UNDEFINED,
  type BooleanValue, type IntegerValue, type ListValue, type RealValue, type Value,
} from "./value.ts";

export type Builtin = (name: string, args: readonly Thunk[], st: EvalState, argExprs: readonly Expr[]) => Value;

/** The list's elements as fnCall.cpp evaluates them: names resolve where the call is (evalElement). */
function listItems(st: EvalState, list: ListValue): Value[] {
  return list.items.map((e) => evalElement(st, e, list));
}

const isType: Builtin = (name, args, st) => {
  if (args.length !== 1) return ERROR;
  const v = args[0](st);
  switch (name) {
    case "isundefined": return boolValue(v.kind === "undefined");
    case "iserror": return boolValue(v.kind === "error");
    case "isstring": return boolValue(v.kind === "string");
    case "isinteger": return boolValue(v.kind === "integer");
    case "isreal": return boolValue(v.kind === "real");
    case "isboolean": return boolValue(v.kind === "boolean");
    case "islist": return boolValue(v.kind === "list");
    case "isclassad": return boolValue(v.kind === "classad");
    case "isabstime": return boolValue(v.kind === "abstime");
    default: return boolValue(v.kind === "reltime");
  }
};

const member: Builtin = (name, args, st) => {
  if (args.length !== 2) return ERROR;
  const useIs = name === "identicalmember";
  const x = args[0](st);
  const list = args[1](st);
  if (list.kind === "undefined" || (!useIs && x.kind === "undefined")) return UNDEFINED;
  if (list.kind !== "list" || x.kind === "list" || x.kind === "classad") return ERROR;
  if (!useIs && x.kind === "error") return ERROR;
  for (const item of list.items) {
    const v = evalElement(st, item, list);
    const r = useIs ? identical(v, x) : comparison("==", v, x);
    if (r.kind === "boolean" && r.value) return TRUE;
  }
  return FALSE;
};

const size: Builtin = (_n, args, st) => {
  if (args.length !== 1) return ERROR;
  const v = args[0](st);
  switch (v.kind) {
    case "undefined": return UNDEFINED;
    case "list": return intValue(v.items.length);
    case "classad": return intValue(v.ad.size);
    case "string": return intValue(v.value.length);
    default: return ERROR;
  }
};

const sumAvg: Builtin = (name, args, st) => {
  if (args.length !== 1) return ERROR;
  const lv = args[0](st);
  if (lv.kind === "undefined") return UNDEFINED;
  if (lv.kind !== "list") return ERROR;
  let result: Value = intValue(0);
  let first = true;
  let len = 0;
  for (const v of listItems(st, lv)) {
    if (v.kind === "undefined") continue;
    if (!isNumber(v)) return ERROR;
    len++;
    result = first ? v : arithmetic("+", result, v);
    first = false;
  }
  if (name === "sum" || len === 0) return result; // HTCondor: avg({}) is the empty sum, 0
  return arithmetic("/", result, realValue(len));
};

const minMax: Builtin = (name, args, st) => {
  if (args.length !== 1) return ERROR;
  const lv = args[0](st);
  if (lv.kind === "undefined") return UNDEFINED;
  if (lv.kind !== "list") return ERROR;
  const op = name === "min" ? "<" : ">";
  let result: IntegerValue | RealValue | BooleanValue | undefined;
  for (const v of listItems(st, lv)) {
    if (v.kind === "undefined") continue;
    if (!isNumber(v)) return ERROR;
    if (result === undefined) result = v;
    else {
      // operators.cpp compares after promoting both operands in place (booleans to integers,
      // both to real when one is real), so the kept bound comes out promoted as well.
      const asReal = v.kind === "real" || result.kind === "real";
      const a = promote(v, asReal);
      const b = promote(result, asReal);
      const c = comparison(op, a, b);
      result = c.kind === "boolean" && c.value ? a : b;
    }
  }
  return result ?? UNDEFINED;
};

function promote(v: IntegerValue | RealValue | BooleanValue, asReal: boolean): IntegerValue | RealValue {
  const n = v.kind === "boolean" ? (v.value ? 1 : 0) : v.value;
  if (asReal) return v.kind === "real" ? v : realValue(n);
  return v.kind === "integer" ? v : intValue(n);
}

const COMPARE_OPS: Record<string, "<" | "<=" | "!=" | "==" | ">" | ">=" | "is" | "isnt"> = { "<": "<", "<=": "<=", "!=": "!=", "==": "==", ">": ">", ">=": ">=", is: "is", isnt: "isnt" };

const listCompare: Builtin = (name, args, st) => {
  if (args.length !== 3) return ERROR;
  const opv = args[0](st);
  if (opv.kind === "undefined") return UNDEFINED;
  if (opv.kind !== "string") return ERROR;
  const op = Object.prototype.hasOwnProperty.call(COMPARE_OPS, opv.value) ? COMPARE_OPS[opv.value] : undefined;
  if (!op) return ERROR;
  const lv = args[1](st);
  if (lv.kind === "undefined") return UNDEFINED;
  if (lv.kind !== "list") return ERROR;
  const x = args[2](st);
  const all = name === "allcompare";
  for (const v of listItems(st, lv)) {
    const r = comparison(op, v, x);
    if (r.kind !== "boolean") {
      if (r.kind === "undefined") return FALSE;
      return ERROR;
    }
    if (r.value && !all) return TRUE;
    if (!r.value && all) return FALSE;
  }
  return boolValue(all);
};

const time: Builtin = (_n, args) => (args.length > 0 ? ERROR : intValue(Math.floor(Date.now() / 1000)));

const strcat: Builtin = (name, args, st) => {
  const isJoin = name === "join";
  let items: (() => Value)[] = args.map((a) => () => a(st));
  if (isJoin && args.length > 0 && args.length <= 2) {
    const last = args[args.length - 1](st);
    if (last.kind === "list") {
      const elems = last.items.map((e) => () => evalElement(st, e, last));
      const sep: () => Value = args.length > 1 ? () => args[0](st) : () => stringValue("");
      items = [sep, ...elems];
    }
  }
  let buf = "";
  let sep = "";
  let undef = false;
  let defined = false;
  for (let i = 0; i < items.length; i++) {
    const s = toStringValue(items[i]());
    if (s.kind === "undefined") {
      undef = true;
      if (isJoin) continue;
      defined = false;
      break;
    }
    if (s.kind === "error") return ERROR;
    if (isJoin) {
      if (i === 0) {
        sep = s.value;
        continue;
      }
      if (buf !== "") buf += sep;
    }
    defined = true;
    buf += s.value;
    if (buf.length > 16 * 1024 * 1024) return ERROR;
  }
  if (undef && !defined) return UNDEFINED;
  return stringValue(buf);
};

const changeCase: Builtin = (name, args, st) => {
  if (args.length !== 1) return ERROR;
  const s = toStringValue(args[0](st));
  if (s.kind !== "string") return s;
  return stringValue(name === "tolower" ? asciiLower(s.value) : asciiUpper(s.value));
};

/** C's (int) truncation of a 64-bit integer argument. */
function int32Of(v: Value & { kind: "integer" }): number {
  return v.exact !== undefined ? Number(BigInt.asIntN(32, v.exact)) : v.value | 0;
}

const substr: Builtin = (_n, args, st) => {
  if (args.length < 2 || args.length > 3) return ERROR;
  const s = args[0](st);
  const o = args[1](st);
  const l = args.length > 2 ? args[2](st) : UNDEFINED;
  if (s.kind === "undefined" || o.kind === "undefined" || (args.length > 2 && l.kind === "undefined")) return UNDEFINED;
  if (s.kind !== "string" || o.kind !== "integer" || (args.length > 2 && l.kind !== "integer")) return ERROR;
  const alen = s.value.length;
  let offset = int32Of(o);
  let len = l.kind === "integer" ? int32Of(l) : 0;
  if (offset < 0) offset = Math.max(0, alen + offset);
  else if (offset >= alen) offset = alen;
  if (len <= 0) len = Math.max(0, alen - offset + len);
  else if (len > alen - offset) len = alen - offset;
  if (l.kind === "integer" && int32Of(l) === 0) len = 0;
  return stringValue(s.value.substr(offset, len));
};

/** The two string arguments of strcmp-like functions, or the value the call yields instead. */
function twoStrings(args: Parameters<Builtin>[1], st: Parameters<Builtin>[2]): [string, string] | Value {
  if (args.length !== 2) return ERROR;
  const a = args[0](st);
  const b = args[1](st);
  if (a.kind === "undefined" || b.kind === "undefined") return UNDEFINED;
  const x = toStringValue(a);
  const y = toStringValue(b);
  if (x.kind !== "string" || y.kind !== "string") return ERROR;
  return [x.value, y.value];
}

const compareString: Builtin = (name, args, st) => {
  const pair = twoStrings(args, st);
  if (!Array.isArray(pair)) return pair;
  let [p, q] = pair;
  if (name === "stricmp") {
    p = asciiLower(p);
    q = asciiLower(q);
  }
  return intValue(p < q ? -1 : p > q ? 1 : 0);
};

const compareVersion: Builtin = (name, args, st) => {
  const pair = twoStrings(args, st);
  if (!Array.isArray(pair)) return pair;
  const r = naturalCompare(pair[0], pair[1]);
  switch (name) {
    case "versioncmp": return intValue(r);
    case "versionle": return boolValue(r <= 0);
    case "versionlt": return boolValue(r < 0);
    case "versionge": return boolValue(r >= 0);
    case "versiongt": return boolValue(r > 0);
    default: return boolValue(r === 0);
  }
};

const versionInRange: Builtin = (_n, args, st) => {
  if (args.length !== 3) return ERROR;
  const [t, lo, hi] = args.map((a) => a(st));
  if (lo.kind === "undefined" || hi.kind === "undefined") return UNDEFINED;
  const [x, l, h] = [t, lo, hi].map(toStringValue);
  if (x.kind !== "string" || l.kind !== "string" || h.kind !== "string") return ERROR;
  return boolValue(naturalCompare(l.value, x.value) <= 0 && naturalCompare(x.value, h.value) <= 0);
};

const convInt: Builtin = (_n, args, st) => (args.length !== 1 ? ERROR : toIntegerValue(args[0](st)));
const convReal: Builtin = (_n, args, st) => (args.length !== 1 ? ERROR : toRealValue(args[0](st)));
const convString: Builtin = (_n, args, st) => (args.length !== 1 ? ERROR : toStringValue(args[0](st)));

const convBool: Builtin = (_n, args, st) => {
  if (args.length !== 1) return ERROR;
  const v = args[0](st);
  switch (v.kind) {
    case "undefined": return UNDEFINED;
    case "boolean": return v;
    case "integer": case "real": return boolValue(v.value !== 0);
    case "string": {
      const s = v.value.toLowerCase();
      return s === "true" ? TRUE : s === "false" ? FALSE : UNDEFINED;
    }
    case "reltime": return boolValue(cInt(v.secs) !== 0);
    default: return ERROR;
  }
};

/** C's rint in the default rounding mode: halves go to the even neighbour. */
function rint(r: number): number {
  const f = Math.floor(r);
  const d = r - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

const doRound: Builtin = (name, args, st) => {
  if (args.length !== 1) return ERROR;
  const v = args[0](st);
  if (v.kind === "integer") return v;
  const r = toRealValue(v);
  if (r.kind !== "real") return ERROR;
  const x = r.value;
  if (name === "floor") return intFromReal(Math.floor(x));
  if (name === "round") return intFromReal(rint(x));
  return intFromReal(Math.ceil(x));
};

const pow: Builtin = (_n, args, st) => {
  if (args.length !== 2) return ERROR;
  const a = args[0](st);
  const b = args[1](st);
  if (a.kind === "integer" && b.kind === "integer" && b.value >= 0) {
    // HTCondor adds 0.5 and truncates, so pow(-2, 3) is -7 there; we keep that.
    return intFromReal(cPow(a.value, b.value) + 0.5);
  }
  const x = toRealValue(a);
  const y = toRealValue(b);
  if (x.kind !== "real" || y.kind !== "real") return ERROR;
  const r = cPow(x.value, y.value);
  // glibc's pow returns x + y for a NaN operand and its invalid-operation NaN otherwise.
  return realValue(r, nanSign(r, x.value, x.negNaN === true, y.value, y.negNaN === true));
};

/** ceil(rval / base) * base, with the NaN sign bit the two operations leave (ceil keeps it). */
function quantized(rval: number, rNeg: boolean, base: number, baseNeg: boolean): Value {
  const q = rval / base;
  const qNeg = nanSign(q, rval, rNeg, base, baseNeg);
  const r = Math.ceil(q) * base;
  return realValue(r, nanSign(r, q, qNeg, base, baseNeg));
}

const quantize: Builtin = (_n, args, st) => {
  if (args.length !== 2) return ERROR;
  const a = args[0](st);
  let b = args[1](st);
  const av = toRealValue(a);
  if (av.kind !== "real") return ERROR;
  const rval = av.value;
  let rbase: number;
  if (b.kind === "list") {
    let base: Value = realValue(0);
    rbase = 0;
    for (const item of listItems(st, b)) {
      base = item;
      const r = toRealValue(item);
      if (r.kind !== "real") return ERROR;
      rbase = r.value;
      if (rbase >= rval) return base;
    }
    b = base;
  } else {
    const r = toRealValue(b);
    if (r.kind !== "real") return ERROR;
    rbase = r.value;
  }
  if (b.kind === "integer") {
    const ibase = b.value;
    if (ibase === 0) return a;
    if (a.kind === "integer") {
      // C's long long arithmetic: ((ival + ibase - 1) / ibase) * ibase, wrapping past 64 bits.
      if (Math.abs(a.value) < 2 ** 51 && Math.abs(ibase) < 2 ** 51) return intValue(Math.trunc((a.value + ibase - 1) / ibase) * ibase);
      const B = bigOf(b);
      return intValue(BigInt.asIntN(64, (BigInt.asIntN(64, bigOf(a) + B - 1n) / B) * B));
    }
    return quantized(rval, av.negNaN === true, ibase, false);
  }
  if (rbase >= -1e-8 && rbase <= 1e-8) return a;
  return quantized(rval, av.negNaN === true, rbase, negNaNOf(b));
};

const random: Builtin = (_n, args, st) => {
  if (args.length > 1) return ERROR;
  const v = args.length === 0 ? realValue(1) : args[0](st);
  if (v.kind === "integer") return v.value <= 0 ? ERROR : intValue(Math.floor(Math.random() * v.value));
  if (v.kind === "real") return v.value <= 0 ? ERROR : realValue(v.value * Math.random());
  return ERROR;
};

const ifThenElse: Builtin = (_n, args, st) => {
  if (args.length !== 3) return ERROR;
  const c = args[0](st);
  if (c.kind === "undefined") return UNDEFINED;
  if (c.kind !== "boolean" && c.kind !== "integer" && c.kind !== "real") return ERROR;
  return truthOf(c) ? args[1](st) : args[2](st);
};

const evalFn: Builtin = (_n, args, st) => {
  if (args.length !== 1) return ERROR;
  const s = toStringValue(args[0](st));
  if (s.kind !== "string") return ERROR;
  if (st.depth >= MAX_EVAL_DEPTH) throw new EvaluationFailed("eval() nested too deeply");
  let e: Expr;
  try {
    const p = Parser.forText(s.value);
    e = p.expression();
    // As parseExpr: HTCondor's full parse ignores what follows a top-level conditional.
    if (e.type !== "ternary") p.expectEnd();
  } catch {
    return ERROR;
  }
  // fnCall.cpp sets the parsed tree's parent scope to the current record: records written in the
  // text are enclosed by it, even while a list's elements are walked (EvalState.lex).
  const savedLex = st.lex;
  st.lex = undefined;
  st.depth++;
  try {
    return st.run(e, st);
  } finally {
    st.depth--;
    st.lex = savedLex;
  }
};

const unparseFn: Builtin = (_n, args, st, exprs) => {
  const arg = exprs[0];
  if (args.length !== 1 || !arg || arg.type !== "attr") return ERROR;
  const found = st.cur?.get(unparse(arg));
  return stringValue(found ? unparse(found) : "");
};

const interval: Builtin = (_n, args, st) => {
  if (args.length !== 1) return ERROR;
  const iv = toIntegerValue(args[0](st));
  if (iv.kind !== "integer") return ERROR;
  let t = iv.exact !== undefined ? Number(BigInt.asIntN(32, iv.exact)) : iv.value | 0;
  const days = Math.trunc(t / 86400);
  t %= 86400;
  const hours = Math.trunc(t / 3600);
  t %= 3600;
  const min = Math.trunc(t / 60);
  const secs = t % 60;
  const two = (n: number): string => String(Math.abs(n)).padStart(2, "0");
  if (days !== 0) return stringValue(`${days}+${two(hours)}:${two(min)}:${two(secs)}`);
  if (hours !== 0) return stringValue(`${hours}:${two(min)}:${two(secs)}`);
  if (min !== 0) return stringValue(`${min}:${two(secs)}`);
  return stringValue(String(secs));
};

const debug: Builtin = (_n, args, st) => (args.length !== 1 ? ERROR : args[0](st));

function regexArgs(args: readonly Thunk[], st: EvalState, n: number): Value[] | Value {
  const vals = args.map((a) => a(st));
  if (vals.some((v) => v.kind === "error")) return ERROR;
  if (vals.some((v) => v.kind === "undefined")) return UNDEFINED;
  if (vals.length > n && vals[n].kind !== "string") return ERROR;
  return vals;
}

const regexp: Builtin = (_n, args, st) => {
  if (args.length !== 2 && args.length !== 3) return ERROR;
  const vals = regexArgs(args, st, 2);
  if (!Array.isArray(vals)) return vals;
  const [p, t, o] = vals;
  if (p.kind !== "string" || t.kind !== "string") return ERROR;
  const r = regexTest(p.value, t.value, o && o.kind === "string" ? o.value : "", st);
  return r === null ? ERROR : boolValue(r);
};

const regexpMember: Builtin = (_n, args, st) => {
  if (args.length !== 2 && args.length !== 3) return ERROR;
  const vals = regexArgs(args, st, 2);
  if (!Array.isArray(vals)) return vals;
  const [p, l, o] = vals;
  if (p.kind !== "string" || l.kind !== "list") return ERROR;
  const opts = o && o.kind === "string" ? o.value : "";
  let maybeUndefined = false;
  for (const v of listItems(st, l)) {
    if (v.kind !== "string") {
      if (v.kind === "undefined") {
        maybeUndefined = true;
        continue;
      }
      return ERROR;
    }
    // fnCall.cpp matchPatternMember: regexp_helper's error value for a pattern that does not
    // compile or a match that fails is not a match, so the walk goes on.
    if (regexTest(p.value, v.value, opts, st) === true) return TRUE;
  }
  return maybeUndefined ? UNDEFINED : FALSE;
};

const substPattern: Builtin = (name, args, st) => {
  if (args.length !== 3 && args.length !== 4) return ERROR;
  const vals = regexArgs(args, st, 3);
  if (!Array.isArray(vals)) return vals;
  const [p, t, r, o] = vals;
  let opts = o && o.kind === "string" ? o.value : "";
  if (name === "replace") opts += "f";
  else if (name === "replaceall") opts += "fg";
  if (p.kind !== "string" || t.kind !== "string" || r.kind !== "string") return ERROR;
  const out = regexReplace(p.value, t.value, r.value, opts, opts.includes("f"), opts.includes("g"), st);
  return out === null ? ERROR : stringValue(out);
};

/** stringListSize / Sum / Avg / Min / Max (compat_classad.cpp); default delimiters ", ". */
const stringListSummary: Builtin = (name, args, st) => {
  if (args.length < 1 || args.length > 2) return ERROR;
  const l = args[0](st);
  const d = args.length === 2 ? args[1](st) : stringValue(", ");
  if (l.kind !== "string" || d.kind !== "string") return ERROR;
  const items = splitStringList(l.value, d.value);
  if (name === "stringlistsize") return intValue(items.length);
  let acc = name === "stringlistmin" ? 3.4028234663852886e38 : name === "stringlistmax" ? 1.1754943508222875e-38 : 0;
  let isReal = false;
  for (const item of items) {
    const x = scanDouble(item);
    if (x === null) return ERROR;
    if (!/^[+\-0-9]*$/.test(item)) isReal = true;
    if (name === "stringlistmin") acc = x < acc ? x : acc;
    else if (name === "stringlistmax") acc = x > acc ? x : acc;
    else acc = x + acc;
  }
  if (items.length === 0) return name === "stringlistsum" || name === "stringlistavg" ? realValue(0) : UNDEFINED;
  if (name === "stringlistavg") acc /= items.length;
  return isReal ? realValue(acc) : intFromReal(acc);
};

/** stringListMember / IMember / SubsetMatch / ISubsetMatch; default delimiters ", \t\r\n". */
const stringListMember: Builtin = (name, args, st) => {
  if (args.length < 2 || args.length > 3) return ERROR;
  const a = args[0](st);
  const b = args[1](st);
  const d = args.length === 3 ? args[2](st) : stringValue(", \t\r\n");
  if ((a.kind !== "undefined" && a.kind !== "string") || (b.kind !== "undefined" && b.kind !== "string") || (d.kind !== "undefined" && d.kind !== "string")) return ERROR;
  if (a.kind === "undefined" && b.kind === "undefined") return UNDEFINED;
  const item = a.kind === "string" ? a.value : "";
  const list = b.kind === "string" ? b.value : "";
  const delims = d.kind === "string" ? d.value : ", \t\r\n";
  const caseless = name.startsWith("stringlisti");
  const norm = (s: string): string => (caseless ? asciiLower(s) : s);
  const set = new Set(splitStringList(list, delims).map(norm));
  if (name.endsWith("member")) return boolValue(set.has(norm(item)));
  if (item === "") return TRUE;
  // compat_classad.cpp starts from "no match" and sets it per item: an item list that is not
  // empty but holds no items (", ,") is not a subset.
  let rc = false;
  for (const x of splitStringList(item, delims)) {
    rc = set.has(norm(x));
    if (!rc) break;
  }
  return boolValue(rc);
};

/** stringList_regexpMember(pattern, list [, delimiters [, options]]): all strings; no items is undefined. */
const stringListRegexpMember: Builtin = (_n, args, st) => {
  if (args.length < 2 || args.length > 4) return ERROR;
  const [p, l, d, o] = args.map((a) => a(st));
  if (p.kind !== "string" || l.kind !== "string" || (d && d.kind !== "string") || (o && o.kind !== "string")) return ERROR;
  // compat_classad.cpp reads the options i, m, s, x in either case and ignores the rest.
  const opts = o && o.kind === "string" ? o.value.toLowerCase() : "";
  if (!regexValid(p.value, opts)) return ERROR;
  const items = splitStringList(l.value, d && d.kind === "string" ? d.value : ", ");
  if (items.length === 0) return UNDEFINED;
  for (const item of items) {
    const r = regexTest(p.value, item, opts, st);
    if (r === null) return ERROR;
    if (r) return TRUE;
  }
  return FALSE;
};

/** fnCall.cpp stringListsIntersect: split_string_list on the delimiters (none or "" means " ,"), case-sensitive. */
const stringListsIntersect: Builtin = (_n, args, st) => {
  if (args.length < 2 || args.length > 3) return ERROR;
  const a = args[0](st);
  const b = args[1](st);
  const d = args.length === 3 ? args[2](st) : stringValue("");
  if (a.kind === "error" || b.kind === "error" || d.kind === "error") return ERROR;
  if (a.kind === "undefined" || b.kind === "undefined" || d.kind === "undefined") return UNDEFINED;
  if (a.kind !== "string" || b.kind !== "string" || d.kind !== "string") return ERROR;
  const set = new Set(splitCspn(b.value, d.value));
  return boolValue(splitCspn(a.value, d.value).some((x) => set.has(x)));
};

function stringList(items: readonly string[]): Value {
  // compat_classad.cpp hands back a list it owns (SetListValue of a shared pointer: SLIST_VALUE).
  return { kind: "list", items: items.map((x) => ({ type: "literal", value: stringValue(x) }) as Expr), scope: null, shared: true };
}

/** compat_classad.cpp splitArb_func: split(s [, separators]), separators ", \t" by default; anything but strings is error. */
const split: Builtin = (_n, args, st) => {
  if (args.length < 1 || args.length > 2) return ERROR;
  const s = args[0](st);
  const d = args.length === 2 ? args[1](st) : stringValue(", \t");
  if (s.kind !== "string" || d.kind !== "string") return ERROR;
  return stringList(splitArb(s.value, d.value));
};

/**
 * compat_classad.cpp splitAt_func: splitUserName("user@domain") and splitSlotName("slot@machine")
 * cut at the first "@" into two strings; without one, the user name is all of it (domain "") and
 * the slot name is "" (machine all of it).
 */
const splitAt: Builtin = (name, args, st) => {
  if (args.length !== 1) return ERROR;
  const s = args[0](st);
  if (s.kind !== "string") return ERROR;
  const at = s.value.indexOf("@");
  if (at < 0) return stringList(name === "splitslotname" ? ["", s.value] : [s.value, ""]);
  return stringList([s.value.slice(0, at), s.value.slice(at + 1)]);
};

const TABLE = new Map<string, Builtin>([
  ["isundefined", isType], ["iserror", isType], ["isstring", isType], ["isinteger", isType], ["isreal", isType],
  ["islist", isType], ["isclassad", isType], ["isboolean", isType], ["isabstime", isType], ["isreltime", isType],
  ["member", member], ["identicalmember", member],
  ["size", size], ["sum", sumAvg], ["avg", sumAvg], ["min", minMax], ["max", minMax],
  ["anycompare", listCompare], ["allcompare", listCompare],
  ["time", time], ["currenttime", currentTime], ["timezoneoffset", timeZoneOffset], ["daytime", dayTime],
  ["getyear", getField], ["getmonth", getField], ["getdayofyear", getField], ["getdayofmonth", getField], ["getdayofweek", getField],
  ["getdays", getField], ["gethours", getField], ["getminutes", getField], ["getseconds", getField],
  ["splittime", splitTime], ["formattime", formatTime], ["abstime", convTime], ["reltime", convTime],
  ["strcat", strcat], ["join", strcat], ["toupper", changeCase], ["tolower", changeCase], ["substr", substr],
  ["strcmp", compareString], ["stricmp", compareString],
  ["versioncmp", compareVersion], ["versionle", compareVersion], ["versionlt", compareVersion], ["versionge", compareVersion],
  ["versiongt", compareVersion], ["versioneq", compareVersion], ["version_in_range", versionInRange],
  ["regexp", regexp], ["regexpmember", regexpMember], ["regexps", substPattern], ["replace", substPattern], ["replaceall", substPattern],
  ["int", convInt], ["real", convReal], ["string", convString], ["bool", convBool],
  ["unparse", unparseFn],
  ["floor", doRound], ["ceil", doRound], ["ceiling", doRound], ["round", doRound], ["pow", pow], ["quantize", quantize], ["random", random],
  ["ifthenelse", ifThenElse], ["eval", evalFn], ["debug", debug], ["interval", interval],
  ["stringlistsize", stringListSummary], ["stringlistsum", stringListSummary], ["stringlistavg", stringListSummary],
  ["stringlistmin", stringListSummary], ["stringlistmax", stringListSummary],
  ["stringlistmember", stringListMember], ["stringlistimember", stringListMember],
  ["stringlistsubsetmatch", stringListMember], ["stringlistisubsetmatch", stringListMember],
  ["stringlistsintersect", stringListsIntersect], ["split", split], ["splitusername", splitAt], ["splitslotname", splitAt], ["stringlist_regexpmember", stringListRegexpMember],
  ["unresolved", unresolved], ["evalineachcontext", evalInEachContext], ["countmatches", evalInEachContext],
]);

export function builtin(name: string): Builtin | undefined {
  return TABLE.get(name.toLowerCase());
}

export function isKnownFunction(name: string): boolean {
  return TABLE.has(name.toLowerCase());
}

export function functionNames(): string[] {
  return [...TABLE.keys()];
}

