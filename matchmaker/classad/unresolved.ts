// unresolved(attr [, pattern]) after HTCondor's fnCall.cpp hasRefs: the expression bound to
// `attr` is walked as ClassAd::_GetExternalReferences walks it with full names. A name that does
// not resolve in its record's scope (no TARGET fallback here) is external; one that does is
// followed into its own expression; `base.name` evaluates its base, and an undefined base makes
// "base.name" external as written. The result is the names joined by commas in case-insensitive
// order with a leading "target." dropped, or with a pattern whether any of them has a non-empty
// caseless match. A walk that fails (a reference loop, a base that is not a record) finds nothing.
import type { AttrExpr, Expr } from "./ast.ts";
import type { ClassAd } from "./classad.ts";
import { EvaluationFailed, MAX_EVAL_DEPTH, MAX_EVAL_STEPS, type EvalState, type Thunk } from "./eval-state.ts";
import { asciiLower } from "./operators.ts";
import { regexTestNotEmpty, regexValid } from "./regex.ts";
import { evalIn, lookupInScope, resolveBare, type Found } from "./scope.ts";
import { unparse } from "./unparse.ts";
import { boolValue, ERROR, FALSE, stringValue, UNDEFINED, type Value } from "./value.ts";

/** classad::References: a set ordered and deduplicated case-insensitively, first spelling kept. */
class References {
  private readonly names = new Map<string, string>();

  add(name: string): void {
    const key = asciiLower(name);
    if (!this.names.has(key)) this.names.set(key, name);
  }

  ordered(): string[] {
    return [...this.names.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((k) => this.names.get(k)!);
  }
}

class Walk {
  constructor(private readonly st: EvalState, readonly refs: References) {}

  /** The attributes of a record, looked up from `cur` (HTCondor walks a ClassAd node with the state unchanged). */
  private record(exprs: readonly Expr[], cur: ClassAd | null, depth: number): boolean {
    for (const e of exprs) if (!this.nested(e, cur, depth)) return false;
    return true;
  }

  private nested(e: Expr, cur: ClassAd | null, depth: number): boolean {
    if (this.st.depth + depth + 1 >= MAX_EVAL_DEPTH) return false;
    return this.expr(e, cur, depth + 1);
  }

  /** Where a lookup led: follow an expression, walk a record, or count the name as external. */
  private found(r: Found | Value | null, ref: AttrExpr, cur: ClassAd | null, depth: number): boolean {
    if (r === null) {
      this.refs.add(ref.name);
      return true;
    }
    if ("kind" in r) {
      if (r.kind === "undefined") this.refs.add(ref.name);
      else if (r.kind === "classad") return this.record(r.ad.entries().map(([, e]) => e), cur, depth);
      return true;
    }
    return this.nested(r.expr, r.ad, depth);
  }

  expr(e: Expr, cur: ClassAd | null, depth: number): boolean {
    if (++this.st.steps > MAX_EVAL_STEPS) return false;
    switch (e.type) {
      case "literal":
        return true;
      case "attr": {
        let start: ClassAd | null;
        if (e.base) {
          const v = evalIn(this.st, e.base, cur);
          const b = e.base;
          if (v.kind === "undefined" && this.st.target && cur && cur.parent === null && b.type === "attr" && !b.base && !b.absolute && b.lname === "parent") {
            // In a match the record around each ad (HTCondor's lCtx/rCtx) is its parent; it binds
            // only target, other, my and ad, so any other name is external.
            this.refs.add(e.name);
            return true;
          }
          if (v.kind === "undefined") {
            this.refs.add(`${unparse(e.base)}.${e.name}`);
            return true;
          }
          if (v.kind !== "classad") return false;
          start = v.ad;
        } else if (e.absolute) {
          if (this.st.target && this.st.my) {
            // The match record holds only LEFT and RIGHT.
            const side = e.lname === "left" ? this.st.my : e.lname === "right" ? this.st.target : null;
            return side ? this.record(side.entries().map(([, x]) => x), cur, depth) : this.found(null, e, cur, depth);
          }
          start = this.st.root;
          if (!start) return false;
        } else start = cur;
        if (!start) return this.found(null, e, cur, depth);
        // In a match, TARGET and OTHER are bound in the record around each ad to the other ad.
        if (!e.base && (e.lname === "target" || e.lname === "other") && this.st.target && start.lookup(e.lname) === undefined) {
          return this.record(this.st.target.entries().map(([, x]) => x), cur, depth);
        }
        return this.found(lookupInScope(this.st, start, e.lname), e, start, depth);
      }
      case "unary":
        return this.expr(e.operand, cur, depth);
      case "paren":
        return this.expr(e.inner, cur, depth);
      case "binary":
      case "elvis":
        return this.expr(e.left, cur, depth) && this.expr(e.right, cur, depth);
      case "ternary":
        return this.expr(e.cond, cur, depth) && this.expr(e.then, cur, depth) && this.expr(e.else, cur, depth);
      case "subscript":
        return this.expr(e.base, cur, depth) && this.expr(e.index, cur, depth);
      case "call":
        return this.record(e.args, cur, depth);
      case "list":
        return this.record(e.items, cur, depth);
      case "record":
        return this.record(e.attrs.map(([, x]) => x), cur, depth);
    }
  }
}

/** AttributeReference::Deref: where `ref` leads, without evaluating what it names; null when it leads nowhere. */
function deref(st: EvalState, ref: AttrExpr): Found | Value | null {
  if (!ref.base) {
    const r = resolveBare(st, ref);
    return "kind" in r && r.kind === "undefined" ? null : r;
  }
  const base = evalIn(st, ref.base, st.cur);
  if (base.kind !== "classad") return null;
  return lookupInScope(st, base.ad, ref.lname);
}

export function unresolved(_n: string, args: readonly Thunk[], st: EvalState, exprs: readonly Expr[]): Value {
  const arg = exprs[0];
  if (args.length < 1 || args.length > 2 || arg === undefined || arg.type !== "attr") return ERROR;
  const target = deref(st, arg);
  if (target === null) return UNDEFINED;
  let pattern: string | null = null;
  if (args.length === 2) {
    const p = args[1](st);
    // HTCondor fails the whole evaluation when the pattern is not a string.
    if (p.kind !== "string") throw new EvaluationFailed("unresolved: the pattern is not a string");
    if (!regexValid(p.value, "i")) return ERROR;
    pattern = p.value;
  }
  const walk = new Walk(st, new References());
  let complete = false;
  if (st.cur) {
    if ("kind" in target) complete = target.kind === "classad" ? walk.expr({ type: "record", attrs: target.ad.entries() }, st.cur, 0) : true;
    else complete = walk.expr(target.expr, target.ad, 0);
  }
  const names = complete ? walk.refs.ordered().map((n) => (asciiLower(n.slice(0, 7)) === "target." ? n.slice(7) : n)) : [];
  if (pattern === null) return stringValue(names.join(","));
  for (const n of names) {
    const m = regexTestNotEmpty(pattern, n, "i", st);
    if (m === null) return ERROR;
    if (m) return boolValue(true);
  }
  return FALSE;
}
