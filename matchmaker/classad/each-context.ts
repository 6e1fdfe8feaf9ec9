// evalInEachContext(expr, ads) and countMatches(expr, ads), after compat_classad.cpp
// evalInEachContext_func / evaluateInContext, which HTCondor's daemons register: evaluate one
// expression inside each record of a list, as a job matches one of a slot's GPUs:
//   Requirements = countMatches(RequireGPUs, TARGET.AvailableGPUs) >= RequestGPUs
// If `expr` is an attribute reference that names an attribute, that attribute's expression is
// used (so `RequireGPUs` means MY's `Capability > 4`); otherwise the reference itself is evaluated
// in each record. The lookup moves HTCondor's current record to where the name was found, or, when
// it is not found, to the end of the search (the match record in a match), and the list argument is
// then evaluated from there: `evalInEachContext(Capability, TARGET.AvailableGPUs)` is undefined in a
// match because TARGET is not a name of the match record. Each element must evaluate to a record
// (else undefined stays undefined, anything else is error); the expression is evaluated in a fresh
// state whose current record is that one, and in a match a record enclosed by MY or TARGET falls back
// to the other ad for names it lacks. evalInEachContext returns the values as a list, countMatches
// how many are true (or a non-zero number); an undefined list is undefined / 0.
import { relTimeLiteral, type Expr } from "./ast.ts";
import type { ClassAd } from "./classad.ts";
import { cInt } from "./c-time.ts";
import { endsAsError, topOf, type EvalState, type Thunk } from "./eval-state.ts";
import { evalElement, lexicalScope, lookupInScope, matchOf } from "./scope.ts";
import { ERROR, intValue, truthOf, UNDEFINED, type ListValue, type Value } from "./value.ts";

/** The binding an attribute reference names, moving `st.cur` as LookupInScope leaves it; null if none. */
function deref(st: EvalState, ref: Expr & { type: "attr" }): Expr | null {
  let start: ClassAd | null;
  if (ref.base) {
    const base = st.run(ref.base, st);
    if (base.kind !== "classad") return null;
    start = base.ad;
  } else start = ref.absolute ? (st.my !== null && st.target !== null ? matchOf(st as EvalState & { my: ClassAd; target: ClassAd }).top : st.root) : st.cur;
  if (start === null) return null;
  let found = lookupInScope(st, start, ref.lname);
  if (found === null && !ref.base && !ref.absolute && st.my !== null && st.target !== null) {
    if (start === st.my) found = lookupInScope(st, st.target, ref.lname);
    else if (start === st.target) found = lookupInScope(st, st.my, ref.lname);
  }
  if (found !== null && !("kind" in found)) {
    st.cur = found.ad;
    return found.expr;
  }
  if (found === null) st.cur = st.my !== null && st.target !== null ? matchOf(st as EvalState & { my: ClassAd; target: ClassAd }).top : topOf(start);
  return null;
}

/** compat_classad.cpp is_in_tree: `member` is `leaf` or one of the records enclosing it. */
function isInTree(member: ClassAd | null, leaf: ClassAd): boolean {
  for (let a: ClassAd | null = leaf; a !== null; a = a.parent) if (a === member) return true;
  return false;
}

/** Evaluates `expr` with `nested` as the current record, in a fresh state (evaluateInContext). */
function inContext(st: EvalState, expr: Expr, nested: ClassAd): Value {
  let alt: ClassAd | null = null;
  if (st.my !== null && st.target !== null) {
    if (isInTree(nested.parent, st.my)) alt = st.target;
    else if (isInTree(nested.parent, st.target)) alt = st.my;
  }
  const saved = { cur: st.cur, lex: st.lex, alt: st.alt, depth: st.depth, active: st.active.splice(0) };
  st.cur = nested;
  st.lex = undefined;
  st.alt = alt === null ? null : [nested, alt];
  st.depth = 0;
  try {
    return st.run(expr, st);
  } catch (e) {
    if (endsAsError(e)) return ERROR;
    throw e;
  } finally {
    st.cur = saved.cur;
    st.lex = saved.lex;
    st.alt = saved.alt;
    st.depth = saved.depth;
    st.active.length = 0;
    st.active.push(...saved.active);
  }
}

export function evalInEachContext(name: string, args: readonly Thunk[], st: EvalState, exprs: readonly Expr[]): Value {
  const each = name === "evalineachcontext";
  if (exprs.length !== 2) return ERROR;
  const lexical = lexicalScope(st);
  const savedCur = st.cur;
  let moved = false;
  try {
    let expr = exprs[0];
    if (expr.type === "attr") {
      expr = deref(st, expr) ?? expr;
      moved = true;
    }
    const nal = exprs[1];
    let list: ListValue;
    if (nal.type === "list") list = { kind: "list", items: nal.items, scope: lexical };
    else {
      const v = args[1](st);
      if (v.kind === "undefined") return each ? UNDEFINED : intValue(0);
      if (v.kind !== "list") return ERROR;
      list = v;
    }
    const results: Value[] = [];
    let matches = 0;
    for (const item of list.items) {
      const v = evalElement(st, item, list);
      const r = v.kind === "classad" ? inContext(st, expr, v.ad) : v.kind === "undefined" ? UNDEFINED : ERROR;
      if (each) results.push(r);
      else if (truthOf(r) === true) matches++;
    }
    if (!each) return intValue(matches);
    const items = results.map((r): Expr => (r.kind === "reltime" ? relTimeLiteral(cInt(r.secs)) : { type: "literal", value: r }));
    return { kind: "list", items, scope: null, shared: true };
  } finally {
    // HTCondor does not put the current record back after the lookup: the rest of the expression
    // (up to the attribute being evaluated, whose evaluation restores it) looks names up from where
    // the lookup stopped, so in `countMatches(Missing, L) || Requirements` the Requirements is the
    // match record's (undefined) in a match.
    if (!moved) st.cur = savedCur;
  }
}

