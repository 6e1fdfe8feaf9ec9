// Expressions compiled once into nested closures, then evaluated many times with no
// re-parsing and no dispatch on node type. Common shapes of Requirements get their own
// closures: MY.x / TARGET.x straight to the ad, comparisons against a literal, member() of
// a literal list. Everything else falls back to the shared semantics in operators.ts.
import type { AttrExpr, BinaryOp, Expr } from "./ast.ts";
import type { ClassAd } from "./classad.ts";
import { depthExceeded, MAX_EVAL_DEPTH, type EvalState, type Thunk } from "./eval-state.ts";
import { builtin } from "./functions.ts";
import { MATCH_RECORD_NAMES } from "./match-record.ts";
import { subscript } from "./interpreter.ts";
import { asciiLower, binary, comparison, logicalAnd, logicalOr, unary } from "./operators.ts";
import { evalBare, evalFound, lexicalScope, recordValue, select } from "./scope.ts";
import { ERROR, FALSE, TRUE, truthOf, UNDEFINED, type Value } from "./value.ts";

const cache = new WeakMap<Expr, Thunk>();
/**
 * Closures by the structure of their tree: the thousand slots of a pool advertise the same
 * Requirements and Rank text, and one shared closure is what V8 gets hot and optimizes (a
 * closure per ad would stay cold and run slower than the tree-walker).
 */
const shared = new Map<string, Thunk>();
const MAX_SHARED = 50_000;

const SCALAR_KINDS: ReadonlySet<string> = new Set(["undefined", "error", "boolean", "integer", "real", "string", "abstime", "reltime"]);

function valueKey(v: Value): string | null {
  if (!SCALAR_KINDS.has(v.kind)) return null;
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `${x}n` : typeof x === "number" && (!Number.isFinite(x) || Object.is(x, -0)) ? `#${Object.is(x, -0) ? "-0" : x}` : x));
}

/** Trees of more nodes than this are not shared: their keys would cost more than they save. */
const MAX_SHARED_NODES = 256;
let visits = 0;

function sharingKey(e: Expr): string | null {
  visits = 0;
  return structKey(e);
}

/** A text equal for two trees exactly when they evaluate and print alike (names as spelled); null when not worth sharing. */
function structKey(e: Expr): string | null {
  if (++visits > MAX_SHARED_NODES) return null;
  const keys = (xs: readonly Expr[]): string | null => {
    let out = "";
    for (const x of xs) {
      const k = structKey(x);
      if (k === null) return null;
      out += k + ",";
    }
    return out;
  };
  switch (e.type) {
    case "literal": {
      const k = valueKey(e.value);
      return k === null ? null : `L${e.reltime ? "r" : ""}${k}`;
    }
    case "attr": {
      const b = e.base ? structKey(e.base) : "";
      return b === null ? null : `A${e.absolute ? "." : ""}(${b})${JSON.stringify(e.name)}`;
    }
    case "unary": {
      const k = structKey(e.operand);
      return k === null ? null : `U${e.op}(${k})`;
    }
    case "binary": {
      const k = keys([e.left, e.right]);
      return k === null ? null : `B${e.op}(${k})`;
    }
    case "ternary": {
      const k = keys([e.cond, e.then, e.else]);
      return k === null ? null : `T(${k})`;
    }
    case "elvis": {
      const k = keys([e.left, e.right]);
      return k === null ? null : `E(${k})`;
    }
    case "paren": {
      const k = structKey(e.inner);
      return k === null ? null : `P(${k})`;
    }
    case "subscript": {
      const k = keys([e.base, e.index]);
      return k === null ? null : `S(${k})`;
    }
    case "call": {
      const k = keys(e.args);
      return k === null ? null : `C${JSON.stringify(e.name)}(${k})`;
    }
    case "list": {
      const k = keys(e.items);
      return k === null ? null : `[${k}]`;
    }
    case "record":
      // A record keeps its attribute names' spelling for printing: not shared.
      return null;
  }
}

/** The closure for `e`, compiled on first use and cached on the tree node (and shared by structure). */
export function compiled(e: Expr): Thunk {
  let f = cache.get(e);
  if (!f) {
    const key = e.type === "literal" ? null : sharingKey(e);
    f = key === null ? undefined : shared.get(key);
    if (!f) {
      f = build(e);
      if (key !== null) {
        if (shared.size >= MAX_SHARED) shared.clear();
        shared.set(key, f);
      }
    }
    cache.set(e, f);
  }
  return f;
}

export function runCompiled(e: Expr, st: EvalState): Value {
  return compiled(e)(st);
}

/**
 * `MY.x` / `TARGET.x`: unless a record in scope shadows `my`/`target`, go straight to the ad
 * and remember the lookup per (ad, version) — a monomorphic inline cache, so evaluating the
 * same pair of ads again costs a pointer compare instead of a hash lookup.
 */
function scopedRef(which: "my" | "target", base: AttrExpr, lname: string): Thunk {
  const generic = (st: EvalState): Value => select(st, evalBare(st, base), lname);
  // Special names answer above the ad, and in a match the records above it bind a few more.
  const special = lname === "parent" || lname === "self" || lname === "my" || lname === "currenttime" || lname === "toplevel" || lname === "root" || MATCH_RECORD_NAMES.has(lname);
  let cachedAd: ClassAd | null = null;
  let cachedVersion = -1;
  let cachedExpr: Expr | undefined;
  return (st) => {
    const cur = st.cur;
    if (cur === null || cur.parent !== null || cur.scopeNameCount !== 0 || special || st.strict) return generic(st);
    // `my` is the current record (old-ClassAd semantics), here a top-level ad; TARGET is the
    // other side of the match, seen from either ad.
    let ad: ClassAd | null;
    if (which === "my") ad = cur;
    else if (cur === st.my) ad = st.target;
    else if (cur === st.target && st.my !== null) ad = st.my;
    else return generic(st);
    if (ad === null || ad.parent !== null) return generic(st);
    let e: Expr | undefined;
    if (ad === cachedAd && ad.version === cachedVersion) e = cachedExpr;
    else {
      e = ad.lookup(lname);
      cachedAd = ad;
      cachedVersion = ad.version;
      cachedExpr = e;
    }
    if (e === undefined) return UNDEFINED;
    if (e.type === "literal") return e.value;
    return evalFound(st, { expr: e, ad });
  };
}

function attr(e: AttrExpr): Thunk {
  if (e.base) {
    const base = e.base;
    if (base.type === "attr" && !base.base && !base.absolute && (base.lname === "my" || base.lname === "target")) return scopedRef(base.lname, base, e.lname);
    const b = compiled(base);
    const lname = e.lname;
    return (st) => select(st, b(st), lname);
  }
  return (st) => evalBare(st, e);
}

/** strcasecmp(a, b) == 0 without allocating: ASCII letters fold, other bytes compare exactly. */
export function eqIgnoreCase(a: string, b: string): boolean {
  if (a === b) return true;
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 65 && x <= 90) x += 32;
    if (y >= 65 && y <= 90) y += 32;
    if (x !== y) return false;
  }
  return true;
}

function compareWithLiteral(op: BinaryOp, left: Thunk, k: Value): Thunk | null {
  if (k.kind === "integer" && k.exact === undefined) {
    const n = k.value;
    const slow = (a: Value): Value => comparison(op, a, k);
    switch (op) {
      case ">=": return (st) => { if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st); const a = left(st); st.depth--; return a.kind === "integer" && a.exact === undefined ? (a.value >= n ? TRUE : FALSE) : slow(a); };
      case ">": return (st) => { if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st); const a = left(st); st.depth--; return a.kind === "integer" && a.exact === undefined ? (a.value > n ? TRUE : FALSE) : slow(a); };
      case "<=": return (st) => { if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st); const a = left(st); st.depth--; return a.kind === "integer" && a.exact === undefined ? (a.value <= n ? TRUE : FALSE) : slow(a); };
      case "<": return (st) => { if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st); const a = left(st); st.depth--; return a.kind === "integer" && a.exact === undefined ? (a.value < n ? TRUE : FALSE) : slow(a); };
      case "==": return (st) => { if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st); const a = left(st); st.depth--; return a.kind === "integer" && a.exact === undefined ? (a.value === n ? TRUE : FALSE) : slow(a); };
      case "!=": return (st) => { if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st); const a = left(st); st.depth--; return a.kind === "integer" && a.exact === undefined ? (a.value !== n ? TRUE : FALSE) : slow(a); };
      default: return null;
    }
  }
  if (k.kind === "string" && (op === "==" || op === "!=")) {
    const s = k.value;
    const want = op === "==";
    return (st) => {
      if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st); const a = left(st);
      st.depth--;
      if (a.kind === "string") return eqIgnoreCase(a.value, s) === want ? TRUE : FALSE;
      return comparison(op, a, k);
    };
  }
  return null;
}

function binaryThunk(op: BinaryOp, l: Expr, r: Expr): Thunk {
  const left = compiled(l);
  const right = compiled(r);
  if (op === "&&") {
    return (st) => {
      if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st); const a = left(st);
      let v: Value;
      if (a === FALSE) v = FALSE;
      else if (a === TRUE) {
        const b = right(st);
        v = b === TRUE || b === FALSE ? b : logicalAnd(a, b);
      } else if (truthOf(a) === false) v = FALSE;
      else if (a.kind === "error") v = ERROR;
      else v = logicalAnd(a, right(st));
      st.depth--;
      return v;
    };
  }
  if (op === "||") {
    return (st) => {
      if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st); const a = left(st);
      let v: Value;
      if (a === TRUE || truthOf(a) === true) v = TRUE;
      else if (a.kind === "error") v = ERROR;
      else v = logicalOr(a, right(st));
      st.depth--;
      return v;
    };
  }
  const rl = r.type === "paren" ? r.inner : r;
  if (rl.type === "literal") {
    const special = compareWithLiteral(op, left, rl.value);
    if (special) return special;
  }
  return (st) => {
    if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st); const v = binary(op, left(st), right(st));
    st.depth--;
    return v;
  };
}

function memberOfLiteralStrings(x: Thunk, items: readonly Expr[]): Thunk | null {
  if (items.length === 0 || !items.every((i) => i.type === "literal" && i.value.kind === "string")) return null;
  const strings = items.map((i) => (i as { value: { value: string } }).value.value);
  const lowered = new Set(strings.map(asciiLower));
  const small = strings.length <= 8;
  const generic = builtin("member")!;
  const listThunk: Thunk = (st) => ({ kind: "list", items, scope: lexicalScope(st) });
  return (st) => {
    const v = x(st);
    if (v.kind === "string") {
      if (!small) return lowered.has(asciiLower(v.value)) ? TRUE : FALSE;
      for (let i = 0; i < strings.length; i++) if (eqIgnoreCase(v.value, strings[i])) return TRUE;
      return FALSE;
    }
    return generic("member", [() => v, listThunk], st, []);
  };
}

/**
 * An operator node (operators.cpp's RecursionGuard around Operation and OperationParens): one
 * level of the depth counter that attribute references share; past MAX_EVAL_DEPTH levels the
 * whole evaluation fails. Binary operators, the common case, count inside their own closures
 * (one call less per node); the rarer ones are wrapped here.
 */
function guarded(f: Thunk): Thunk {
  return (st) => {
    if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st);
    const v = f(st);
    st.depth--;
    return v;
  };
}

function build(e: Expr): Thunk {
  switch (e.type) {
    case "binary":
      return binaryThunk(e.op, e.left, e.right);
    case "paren":
    case "unary":
    case "ternary":
    case "elvis":
    case "subscript":
      return guarded(buildOperator(e));
    default:
      return buildOperand(e);
  }
}

function buildOperator(e: Expr & { type: "paren" | "unary" | "ternary" | "elvis" | "subscript" }): Thunk {
  switch (e.type) {
    case "paren":
      return compiled(e.inner);
    case "unary": {
      const f = compiled(e.operand);
      const op = e.op;
      return (st) => unary(op, f(st));
    }
    case "ternary": {
      const c = compiled(e.cond);
      const t = compiled(e.then);
      const f = compiled(e.else);
      return (st) => {
        const v = c(st);
        if (v === TRUE) return t(st);
        if (v === FALSE) return f(st);
        if (v.kind === "undefined") return UNDEFINED;
        const b = truthOf(v);
        if (b === null) return ERROR;
        return b ? t(st) : f(st);
      };
    }
    case "elvis": {
      const l = compiled(e.left);
      const r = compiled(e.right);
      return (st) => {
        const v = l(st);
        return v.kind === "undefined" ? r(st) : v;
      };
    }
    case "subscript": {
      const b = compiled(e.base);
      const i = compiled(e.index);
      return (st) => subscript(st, b(st), i(st));
    }
  }
}

function buildOperand(e: Expr & { type: "literal" | "attr" | "call" | "list" | "record" }): Thunk {
  switch (e.type) {
    case "literal": {
      const v = e.value;
      return () => v;
    }
    case "attr":
      return attr(e);
    case "call": {
      const lname = e.name.toLowerCase();
      const fn = builtin(lname);
      if (!fn) return () => ERROR;
      const args = e.args.map(compiled);
      if (lname === "member" && e.args.length === 2 && e.args[1].type === "list") {
        const fast = memberOfLiteralStrings(args[0], e.args[1].items);
        if (fast) return fast;
      }
      const exprs = e.args;
      return (st) => fn(lname, args, st, exprs);
    }
    case "list": {
      const items = e.items;
      return (st) => ({ kind: "list", items, scope: lexicalScope(st) });
    }
    case "record":
      return (st) => recordValue(st, e);
  }
}

