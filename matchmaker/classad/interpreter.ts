// The plain tree-walking evaluator. It is the in-run baseline of the benchmark and the
// reference the compiled closures are tested against; both share the value semantics in
// operators.ts, functions.ts and scope.ts, so they differ only in dispatch.
import type { Expr } from "./ast.ts";
import { depthExceeded, MAX_EVAL_DEPTH, type EvalState, type Thunk } from "./eval-state.ts";
import { builtin } from "./functions.ts";
import { binary, logicalAnd, logicalOr, unary } from "./operators.ts";
import { ClassAd } from "./classad.ts";
import { detachedList, evalBare, evalIn, lexicalScope, recordValue, select, selectIn } from "./scope.ts";
import { ERROR, truthOf, UNDEFINED, type Value } from "./value.ts";

export function subscript(st: EvalState, base: Value, index: Value): Value {
  if (base.kind === "error" || index.kind === "error") return ERROR;
  if (base.kind === "undefined" || index.kind === "undefined") return UNDEFINED;
  if (base.kind === "classad" && index.kind === "string") {
    const e = base.ad.lookup(index.value.toLowerCase());
    if (!e) return UNDEFINED;
    return ownedCopy(selectIn(st, base, index.value.toLowerCase()));
  }
  if (base.kind === "list" && index.kind === "integer") {
    // operators.cpp reads the index into a C int: 4294967296 is 0, -4294967295 is 1.
    const i = index.exact !== undefined ? Number(BigInt.asIntN(32, index.exact)) : index.value | 0;
    if (i < 0 || i >= base.items.length) return ERROR;
    return evalIn(st, base.items[i], base.scope);
  }
  return ERROR;
}

/**
 * `record["name"]` is ClassAd::EvaluateAttr, whose SafetyCheck hands back a list or record as a
 * copy the value owns, cut from every enclosing record (value.cpp MakeSelfContained): a name among
 * the list's elements finds nothing (`[a = {x}; x = 5]["a"][0]` is undefined) and `is` tells the
 * copy from a list written in place.
 */
function ownedCopy(v: Value): Value {
  if (v.kind === "list") return { ...detachedList(v), shared: true };
  if (v.kind === "classad") return { kind: "classad", ad: new ClassAd(v.ad.entries(), null), shared: true };
  return v;
}

/** The tree-walker counts operator levels on the same depth counter as the compiled closures. */
export function interpret(e: Expr, st: EvalState): Value {
  switch (e.type) {
    case "paren":
    case "unary":
    case "binary":
    case "ternary":
    case "elvis":
    case "subscript": {
      if (++st.depth > MAX_EVAL_DEPTH) depthExceeded(st);
      const v = operator(e, st);
      st.depth--;
      return v;
    }
    default:
      return operand(e, st);
  }
}

function operator(e: Expr & { type: "paren" | "unary" | "binary" | "ternary" | "elvis" | "subscript" }, st: EvalState): Value {
  switch (e.type) {
    case "paren":
      return interpret(e.inner, st);
    case "unary":
      return unary(e.op, interpret(e.operand, st));
    case "binary": {
      const a = interpret(e.left, st);
      if (e.op === "&&") {
        if (truthOf(a) === false) return { kind: "boolean", value: false };
        if (a.kind === "error") return ERROR;
        return logicalAnd(a, interpret(e.right, st));
      }
      if (e.op === "||") {
        if (truthOf(a) === true) return { kind: "boolean", value: true };
        if (a.kind === "error") return ERROR;
        return logicalOr(a, interpret(e.right, st));
      }
      return binary(e.op, a, interpret(e.right, st));
    }
    case "ternary": {
      const c = interpret(e.cond, st);
      if (c.kind === "undefined") return UNDEFINED;
      const t = truthOf(c);
      if (t === null) return ERROR;
      return interpret(t ? e.then : e.else, st);
    }
    case "elvis": {
      const a = interpret(e.left, st);
      return a.kind === "undefined" ? interpret(e.right, st) : a;
    }
    case "subscript":
      return subscript(st, interpret(e.base, st), interpret(e.index, st));
  }
}

function operand(e: Expr & { type: "literal" | "attr" | "call" | "list" | "record" }, st: EvalState): Value {
  switch (e.type) {
    case "literal":
      return e.value;
    case "attr":
      if (!e.base) return evalBare(st, e);
      return select(st, interpret(e.base, st), e.lname);
    case "call": {
      const fn = builtin(e.name);
      if (!fn) return ERROR;
      const args: Thunk[] = e.args.map((a) => (s: EvalState) => interpret(a, s));
      return fn(e.name.toLowerCase(), args, st, e.args);
    }
    case "list":
      return { kind: "list", items: e.items, scope: lexicalScope(st) };
    case "record":
      return recordValue(st, e);
  }
}
