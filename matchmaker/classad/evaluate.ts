// Evaluation entry points. `evaluate` and `compile` run compiled closures; `interpret` is
// the tree-walker kept as the benchmark baseline and as a cross-check in the tests.
import type { Expr } from "./ast.ts";
import type { ClassAd } from "./classad.ts";
import { compiled, runCompiled } from "./compiler.ts";
import { endsAsError, newState, resetState, type EvalState, type Thunk } from "./eval-state.ts";
import { interpret } from "./interpreter.ts";
import { parseExpr } from "./parse.ts";
import { ERROR, type Value } from "./value.ts";

function run(f: Thunk, st: EvalState): Value {
  try {
    return f(st);
  } catch (e) {
    if (endsAsError(e)) return ERROR;
    throw e;
  }
}

/** An expression compiled once; evaluate it as often as you like. */
export class CompiledExpr {
  private readonly fn: Thunk;
  /** A state kept between evaluations; null while one is running (re-entrant calls get a fresh one). */
  private spare: EvalState | null = newState(null, null, runCompiled);

  constructor(readonly expr: Expr) {
    this.fn = compiled(expr);
  }

  /** Evaluates with `my` as MY (bare names resolve there first) and `target` as TARGET. */
  evaluate(my?: ClassAd | null, target?: ClassAd | null): Value {
    const st = this.spare;
    if (st === null) return run(this.fn, newState(my ?? null, target ?? null, runCompiled));
    this.spare = null;
    resetState(st, my ?? null, target ?? null);
    let v: Value;
    try {
      v = this.fn(st);
    } catch (e) {
      this.spare = st;
      if (endsAsError(e)) return ERROR;
      throw e;
    }
    this.spare = st;
    return v;
  }
}

export function compile(expr: Expr | string): CompiledExpr {
  return new CompiledExpr(typeof expr === "string" ? parseExpr(expr) : expr);
}

/** How to evaluate: `strict` is HTCondor's new-ClassAd semantics (see EvalState.strict). */
export interface EvalOptions {
  readonly strict?: boolean;
}

/** Evaluates an expression (or expression text, parsed here) with optional MY and TARGET ads. */
export function evaluate(expr: Expr | string, my?: ClassAd | null, target?: ClassAd | null, opts: EvalOptions = {}): Value {
  const e = typeof expr === "string" ? parseExpr(expr, opts) : expr;
  const st = newState(my ?? null, target ?? null, runCompiled);
  st.strict = opts.strict === true;
  return run(compiled(e), st);
}

/** The same evaluation by walking the tree: the baseline the compiled form is measured against. */
export function interpretExpr(expr: Expr, my?: ClassAd | null, target?: ClassAd | null): Value {
  const st = newState(my ?? null, target ?? null, interpret);
  try {
    return interpret(expr, st);
  } catch (e) {
    if (endsAsError(e)) return ERROR;
    throw e;
  }
}
