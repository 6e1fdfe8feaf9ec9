// What an evaluation carries: the record bare names resolve in (`cur`), the MY and TARGET
// ads, how deep attribute references have gone and which attribute expressions are being
// evaluated right now (a reference back into one of those is a loop: undefined, not a crash).
import type { Expr } from "./ast.ts";
import type { ClassAd } from "./classad.ts";
import type { MatchRecord } from "./match-record.ts";
import type { Value } from "./value.ts";

/** HTCondor's EvalState depth limit (MAX_CLASSAD_RECURSION): nested attribute references beyond it are error. */
export const MAX_EVAL_DEPTH = 400;
/** Operator nesting beyond HTCondor's evaluation depth limit evaluates to error there too (operators.cpp RecursionGuard). */
export const MAX_EXPR_EVAL_DEPTH = 400;
/** Bounds the total work of one evaluation (list projections, string lists, regex loops). */
export const MAX_EVAL_STEPS = 5_000_000;

export interface EvalState {
  cur: ClassAd | null;
  /** The outermost record; with MY and TARGET both given it is the match record, null until built. */
  root: ClassAd | null;
  /** MY, the left ad of a match. */
  my: ClassAd | null;
  /** TARGET, the right ad of a match. */
  target: ClassAd | null;
  /** HTCondor's MatchClassAd around MY and TARGET, built on first use (see match-record.ts). */
  match: MatchRecord | null;
  depth: number;
  steps: number;
  readonly active: Expr[];
  /** Evaluates an expression in this state: compiled closures or the tree-walker. */
  readonly run: (e: Expr, st: EvalState) => Value;
}

export type Thunk = (st: EvalState) => Value;

/** HTCondor's Evaluate() returning false (absTime(n, -1)): the whole evaluation fails, which reads as error. */
export class EvaluationFailed extends Error {}

/** Ends an evaluation early as error: a JavaScript stack overflow on a pathological tree, or an EvaluationFailed. */
export function endsAsError(e: unknown): boolean {
  return e instanceof RangeError || e instanceof EvaluationFailed;
}

export function topOf(ad: ClassAd | null): ClassAd | null {
  let a = ad;
  let guard = 0;
  while (a && a.parent && guard++ < MAX_EVAL_DEPTH) a = a.parent;
  return a;
}

export function newState(my: ClassAd | null, target: ClassAd | null, run: (e: Expr, st: EvalState) => Value): EvalState {
  return { cur: my, root: my !== null && target !== null ? null : topOf(my), my, target, match: null, depth: 0, steps: 0, active: [], run };
}

/** Re-arms a finished state for another evaluation (saves an allocation per evaluation). */
export function resetState(st: EvalState, my: ClassAd | null, target: ClassAd | null): EvalState {
  st.cur = my;
  st.root = target !== null && my !== null ? null : my === null || my.parent === null ? my : topOf(my);
  st.my = my;
  st.target = target;
  st.match = null;
  st.depth = 0;
  st.steps = 0;
  if (st.active.length !== 0) st.active.length = 0;
  return st;
}
