// Name resolution, after HTCondor's LookupInScope and AttributeReference::FindExpr:
// a bare name is looked up in the current record, then its enclosing records; the special
// names `parent`, `self`, `my` (HTCondor's tools run with old-ClassAd semantics, where `my` is
// the current record like `self`), `currenttime` (time()) and `toplevel`/`root` answer at the
// first level that lacks them; then `target` and `other` name the other ad; finally, when the
// search started in MY (or TARGET), the other ad is tried (HTCondor's alternateScope, the
// matchmaking rule "bare names resolve MY first, then TARGET"). With a TARGET, evaluation runs
// inside HTCondor's MatchClassAd, so an absolute `.name` looks in that match record, which
// holds only LEFT (MY) and RIGHT (TARGET).
import { relTimeLiteral, type AttrExpr, type Expr } from "./ast.ts";
import { cInt } from "./c-time.ts";
import { ClassAd } from "./classad.ts";
import { MAX_EVAL_DEPTH, type EvalState } from "./eval-state.ts";
import { classAdValue, ERROR, intValue, UNDEFINED, type Value } from "./value.ts";


export interface Found {
  readonly expr: Expr;
  readonly ad: ClassAd;
}

const SPECIAL = new Set(["parent", "self", "my", "currenttime", "toplevel", "root"]);

function specialValue(lname: string, st: EvalState, current: ClassAd, superScope: ClassAd | null): Value {
  if (lname === "toplevel" || lname === "root") return st.root ? classAdValue(st.root) : UNDEFINED;
  if (lname === "self" || lname === "my") return classAdValue(current);
  if (lname === "currenttime") return intValue(Math.floor(Date.now() / 1000));
  return superScope ? classAdValue(superScope) : UNDEFINED;
}

/** Looks `lname` up from `start` outwards; returns the binding, a value for special names, or null. */
export function lookupInScope(st: EvalState, start: ClassAd, lname: string): Found | Value | null {
  let current: ClassAd | null = start;
  let hops = 0;
  while (current) {
    const e = current.lookup(lname);
    if (e) return { expr: e, ad: current };
    const superScope: ClassAd | null = current === st.root ? null : current.parent;
    if (SPECIAL.has(lname)) return specialValue(lname, st, current, superScope);
    current = superScope;
    if (current === start || ++hops > MAX_EVAL_DEPTH) return null;
  }
  return null;
}

/** Resolves a reference without a base record: `name` or `.name`. */
export function resolveBare(st: EvalState, ref: AttrExpr): Found | Value {
  const lname = ref.lname;
  if (ref.absolute) {
    if (st.target && st.my) return lname === "left" ? classAdValue(st.my) : lname === "right" ? classAdValue(st.target) : UNDEFINED;
    if (!st.root) return UNDEFINED;
    return lookupInScope(st, st.root, lname) ?? UNDEFINED;
  }
  const start = st.cur;
  if (start) {
    const r = lookupInScope(st, start, lname);
    if (r) return r;
  } else if (SPECIAL.has(lname)) return UNDEFINED;
  if (lname === "my") return st.my ? classAdValue(st.my) : UNDEFINED;
  if (lname === "target" || lname === "other") return st.target ? classAdValue(st.target) : UNDEFINED;
  if (start && start === st.my && st.target) return lookupInScope(st, st.target, lname) ?? UNDEFINED;
  if (start && start === st.target && st.my) return lookupInScope(st, st.my, lname) ?? UNDEFINED;
  return UNDEFINED;
}

/** Evaluates a found binding in the record it was found in. A reference back into an attribute being
 * evaluated is undefined (attrrefs.cpp's circular-reference check), runaway depth is error. */
export function evalFound(st: EvalState, f: Found): Value {
  if (f.expr.type === "literal") return f.expr.value;
  if (st.depth >= MAX_EVAL_DEPTH) return ERROR;
  const active = st.active;
  for (let i = 0; i < active.length; i++) if (active[i] === f.expr) return UNDEFINED;
  const saved = st.cur;
  active.push(f.expr);
  st.depth++;
  st.cur = f.ad;
  try {
    return st.run(f.expr, st);
  } finally {
    st.cur = saved;
    st.depth--;
    active.pop();
  }
}

export function evalBare(st: EvalState, ref: AttrExpr): Value {
  const r = resolveBare(st, ref);
  return "kind" in r ? r : evalFound(st, r);
}

/** Evaluates an element expression of a list in the record the list was written in. */
export function evalIn(st: EvalState, e: Expr, scope: ClassAd | null): Value {
  if (e.type === "literal") return e.value;
  if (st.depth >= MAX_EVAL_DEPTH) return ERROR;
  const saved = st.cur;
  if (scope) st.cur = scope;
  st.depth++;
  try {
    return st.run(e, st);
  } finally {
    st.depth--;
    st.cur = saved;
  }
}

/** `base.name` once `base` is evaluated: a record lookup, or a projection over a list. */
export function select(st: EvalState, base: Value, lname: string): Value {
  if (base.kind === "undefined") return UNDEFINED;
  if (base.kind === "classad") {
    const r = lookupInScope(st, base.ad, lname);
    if (!r) return UNDEFINED;
    return "kind" in r ? r : evalFound(st, r);
  }
  if (base.kind === "list") {
    const items: Expr[] = [];
    for (const item of base.items) {
      if (++st.steps > 5_000_000) return ERROR;
      const v = evalIn(st, item, base.scope);
      items.push(literalOf(select(st, v, lname)));
    }
    return { kind: "list", items, scope: null };
  }
  return ERROR;
}

/** Literal::MakeLiteral: a relative time becomes a ReltimeLiteral of its whole seconds (a real when evaluated). */
function literalOf(v: Value): Expr {
  return v.kind === "reltime" ? relTimeLiteral(cInt(v.secs)) : { type: "literal", value: v };
}

/** A record literal becomes a ClassAd whose enclosing scope is the record being evaluated. */
export function recordValue(st: EvalState, rec: Expr & { type: "record" }): Value {
  return classAdValue(ClassAd.fromRecord(rec, st.cur));
}
