// Name resolution, after HTCondor's LookupInScope and AttributeReference::FindExpr:
// a bare name is looked up in the current record, then its enclosing records; the special
// names `parent`, `self`, `my` (HTCondor's tools run with old-ClassAd semantics, where `my` is
// the current record like `self`), `currenttime` (time()) and `toplevel`/`root` answer at the
// first level that lacks them; finally, when the search started in MY (or TARGET), the other ad
// is tried (HTCondor's alternateScope, the matchmaking rule "bare names resolve MY first, then
// TARGET"). With both MY and TARGET, evaluation runs inside HTCondor's MatchClassAd
// (match-record.ts): above each of the two ads is its context record (which binds target, other,
// my, ad), above that the match record, which is the root.
import { relTimeLiteral, type AttrExpr, type Expr } from "./ast.ts";
import { cInt } from "./c-time.ts";
import { ClassAd, DETACHED } from "./classad.ts";
import { EvaluationFailed, MAX_EVAL_DEPTH, step, type EvalState } from "./eval-state.ts";
import { MATCH_RECORD_NAMES, matchRecord, type MatchRecord } from "./match-record.ts";
import { classAdValue, ERROR, intValue, UNDEFINED, type ListValue, type Value } from "./value.ts";


export interface Found {
  readonly expr: Expr;
  readonly ad: ClassAd;
}

const SPECIAL = new Set(["parent", "self", "my", "currenttime", "toplevel", "root"]);
const STRICT_SPECIAL = new Set(["parent", "self", "toplevel", "root"]);

function specialNames(st: EvalState): ReadonlySet<string> {
  return st.strict ? STRICT_SPECIAL : SPECIAL;
}

/** The match record of a state with both MY and TARGET, built on first use. */
export function matchOf(st: EvalState & { my: ClassAd; target: ClassAd }): MatchRecord {
  let m = st.match;
  if (m === null) {
    m = matchRecord(st.my, st.target);
    st.match = m;
    st.root = m.top;
  }
  return m;
}

function rootOf(st: EvalState): ClassAd | null {
  return st.my !== null && st.target !== null ? matchOf(st as EvalState & { my: ClassAd; target: ClassAd }).top : st.root;
}

function specialValue(lname: string, st: EvalState, current: ClassAd, superScope: ClassAd | null): Value {
  if (lname === "toplevel" || lname === "root") {
    const root = rootOf(st);
    return root ? classAdValue(root) : UNDEFINED;
  }
  if (lname === "self" || lname === "my") return classAdValue(current);
  if (lname === "currenttime") return intValue(Math.floor(Date.now() / 1000));
  return superScope ? classAdValue(superScope) : UNDEFINED;
}

/** Looks `lname` up from `start` outwards; returns the binding, a value for special names, or null. */
export function lookupInScope(st: EvalState, start: ClassAd, lname: string): Found | Value | null {
  let current: ClassAd | null = start;
  let hops = 0;
  const special = specialNames(st);
  while (current) {
    const e = current.lookup(lname);
    if (e) return { expr: e, ad: current };
    let superScope: ClassAd | null;
    if (current === st.root) superScope = null;
    else if ((current === st.my || current === st.target) && st.my !== null && st.target !== null) {
      // A matched ad's parent is its context record. Past the ad only the records' own names and
      // parent/toplevel/root can be found, so other misses end here without building them.
      if (lname !== "parent" && lname !== "toplevel" && lname !== "root" && !MATCH_RECORD_NAMES.has(lname) && !(st.strict && lname === "my")) {
        return special.has(lname) ? specialValue(lname, st, current, null) : null;
      }
      // The context record's own names, answered without building it: `target`/`other` are the
      // other ad (its `.RIGHT`/`.LEFT`), `ad` this one — every TARGET.x of a Requirements asks.
      if (lname === "target" || lname === "other") return classAdValue(current === st.my ? st.target : st.my);
      if (lname === "ad") return classAdValue(current);
      const m = matchOf(st as EvalState & { my: ClassAd; target: ClassAd });
      superScope = current === st.target ? m.rightContext : m.leftContext;
    } else superScope = current.parent;
    if (special.has(lname)) return specialValue(lname, st, current, superScope);
    current = superScope;
    if (current === start || ++hops > MAX_EVAL_DEPTH) return null;
  }
  return null;
}

/** Resolves a reference without a base record: `name` or `.name`. */
export function resolveBare(st: EvalState, ref: AttrExpr): Found | Value {
  const lname = ref.lname;
  if (ref.absolute) {
    const root = rootOf(st);
    if (!root) return UNDEFINED;
    return lookupInScope(st, root, lname) ?? UNDEFINED;
  }
  const start = st.cur;
  // An element of a detached list (a projection's result, a list fetched by `record["name"]`) has
  // no enclosing record: attrrefs.cpp FindExpr finds no scope to look in and answers undefined.
  if (start === DETACHED) return UNDEFINED;
  if (start) {
    const r = lookupInScope(st, start, lname);
    if (r) return r;
  } else if (specialNames(st).has(lname)) return UNDEFINED;
  if (st.strict) return UNDEFINED;
  const alt = st.alt;
  if (alt !== null && start === alt[0]) return lookupInScope(st, alt[1], lname) ?? UNDEFINED;
  const my = st.my;
  const target = st.target;
  if (my !== null && target !== null) {
    // Only MY and TARGET have an alternate scope (each other); in a match TARGET and OTHER come
    // from the context records, so nothing else falls back.
    if (start === my) return lookupInScope(st, target, lname) ?? UNDEFINED;
    if (start === target) return lookupInScope(st, my, lname) ?? UNDEFINED;
    return UNDEFINED;
  }
  if (target !== null && (lname === "target" || lname === "other")) return classAdValue(target);
  return UNDEFINED;
}

/** Evaluates a found binding in the record it was found in. A reference back into an attribute being
 * evaluated is undefined (attrrefs.cpp's circular-reference check), runaway depth is error. */
export function evalFound(st: EvalState, f: Found): Value {
  // attrrefs.cpp checks the depth before anything else, literals included.
  if (st.depth >= MAX_EVAL_DEPTH) throw new EvaluationFailed("attribute references nested too deeply");
  if (f.expr.type === "literal") return f.expr.value;
  step(st);
  const active = st.active;
  for (let i = 0; i < active.length; i++) if (active[i] === f.expr) return UNDEFINED;
  const saved = st.cur;
  const savedLex = st.lex;
  active.push(f.expr);
  st.depth++;
  st.cur = f.ad;
  st.lex = undefined;
  try {
    return st.run(f.expr, st);
  } finally {
    st.cur = saved;
    st.lex = savedLex;
    st.depth--;
    active.pop();
  }
}

export function evalBare(st: EvalState, ref: AttrExpr): Value {
  const r = resolveBare(st, ref);
  return "kind" in r ? r : evalFound(st, r);
}

/**
 * Evaluates an element expression of a list in the record the list was written in, as a
 * subscript does (exprList.cpp GetValueAt: the element's parent scope becomes the current record).
 */
export function evalIn(st: EvalState, e: Expr, scope: ClassAd | null): Value {
  if (st.depth >= MAX_EVAL_DEPTH) throw new EvaluationFailed("list elements nested too deeply");
  if (e.type === "literal") return e.value;
  step(st);
  const saved = st.cur;
  const savedLex = st.lex;
  if (scope) st.cur = scope;
  st.lex = undefined;
  st.depth++;
  try {
    return st.run(e, st);
  } finally {
    st.depth--;
    st.cur = saved;
    st.lex = savedLex;
  }
}

/**
 * Evaluates an element of a list that a function walks (sum, avg, min, max, member, anyCompare,
 * join, quantize, regexpMember) or a projection selects from: fnCall.cpp evaluates each element
 * with the caller's EvalState (attrrefs.cpp gives a projection a state scoped at the caller's
 * current record), so bare names resolve where the call is, not where the list was written:
 * with `R = [ x = 1; z = { x } ]; x = 100`, `sum(R.z)` is 100. Records and lists among the
 * elements keep the record the list was written in as their parent.
 */
export function evalElement(st: EvalState, e: Expr, list: ListValue): Value {
  if (e.type === "literal") return e.value;
  step(st);
  const savedLex = st.lex;
  st.lex = list.scope;
  try {
    return st.run(e, st);
  } finally {
    st.lex = savedLex;
  }
}

/** The record enclosing records and lists written in the expression being evaluated (see EvalState.lex). */
export function lexicalScope(st: EvalState): ClassAd | null {
  const s = st.lex !== undefined ? st.lex : st.cur;
  return s;
}

/** `base.name` once `base` is evaluated: a record lookup, or a projection over a list. */
export function select(st: EvalState, base: Value, lname: string): Value {
  if (base.kind === "undefined") return UNDEFINED;
  // A record value that owns its copy (SCLASSAD_VALUE, from `record["name"]`) is released by
  // attrrefs.cpp FindExpr before the name is looked up in it: the lookup finds nothing.
  if (base.kind === "classad" && base.shared === true) return UNDEFINED;
  return selectIn(st, base, lname);
}

/** `base.name` or `base["name"]` on a record, a projection on a list. */
export function selectIn(st: EvalState, base: Value, lname: string): Value {
  if (base.kind === "undefined") return UNDEFINED;
  if (base.kind === "classad") {
    const r = lookupInScope(st, base.ad, lname);
    if (!r) return UNDEFINED;
    return "kind" in r ? r : evalFound(st, r);
  }
  if (base.kind === "list") {
    const items: Expr[] = [];
    for (const item of base.items) {
      step(st);
      const v = evalElement(st, item, base);
      items.push(literalOf(select(st, v, lname)));
    }
    return { kind: "list", items, scope: null };
  }
  return ERROR;
}

/**
 * An element of a projected list. Literal::MakeLiteral: a relative time becomes a ReltimeLiteral of
 * its whole seconds (a real when evaluated). A record is copied and the new list's parent scope set
 * to none (attrrefs.cpp), so it no longer sees the records around it: `{ [q = [w = z]; z = 4] }.q.w`
 * is `{ undefined }`.
 */
function literalOf(v: Value): Expr {
  if (v.kind === "classad") return { type: "literal", value: classAdValue(new ClassAd(v.ad.entries(), null)) };
  if (v.kind === "list") return { type: "literal", value: detachedList(v) };
  return v.kind === "reltime" ? relTimeLiteral(cInt(v.secs)) : { type: "literal", value: v };
}

/**
 * A projection detaches the lists it returns: HTCondor sets the projected list's parent scope to
 * none, and ExprList passes that down to every element, nested lists and records included. A
 * record among them no longer sees the records around it (`{ [k = l] }.k[0].w` with
 * `l = { [w = z] }; z = 4` is `{ undefined }`), and a bare name among them is undefined.
 */
export function detachedList(v: Value & { kind: "list" }): ListValue {
  if (v.scope === DETACHED) return v;
  const items = v.items.map((e): Expr => {
    if (e.type !== "literal") return e;
    const x = e.value;
    if (x.kind === "classad") return { type: "literal", value: classAdValue(new ClassAd(x.ad.entries(), null)) };
    if (x.kind === "list") return { type: "literal", value: detachedList(x) };
    return e;
  });
  return { kind: "list", items, scope: DETACHED };
}

/** A record literal becomes a ClassAd whose enclosing scope is the record being evaluated (none in a detached list). */
export function recordValue(st: EvalState, rec: Expr & { type: "record" }): Value {
  const enclosing = lexicalScope(st);
  return classAdValue(ClassAd.fromRecord(rec, enclosing === DETACHED ? null : enclosing));
}
