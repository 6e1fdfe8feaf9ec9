// What an evaluation carries: the record bare names resolve in (`cur`), the MY and TARGET
// ads, how deep attribute references have gone and which attribute expressions are being
// evaluated right now (a reference back into one of those is a loop: undefined, not a crash).
import type { Expr } from "./ast.ts";
import type { ClassAd } from "./classad.ts";
import type { MatchRecord } from "./match-record.ts";
import type { EvalBudget } from "./eval-budget.ts";
import { REGEX_EVAL_BUDGET_MS } from "./regex.ts";
import type { Value } from "./value.ts";

/**
 * HTCondor's EvalState depth limit (exprTree.h MAX_CLASSAD_RECURSION), one counter shared by
 * operators (operators.cpp RecursionGuard: fails past 400 levels), attribute references
 * (attrrefs.cpp: fails when an attribute's expression would start at level 400), list elements
 * (exprList.cpp) and eval() (fnCall.cpp). Running out fails the whole evaluation (Evaluate()
 * returns false), which reads as error.
 */
export const MAX_EVAL_DEPTH = 400;
/**
 * Bounds the total work of one evaluation (attribute references, list elements and projections),
 * as HTCondor's MAX_CLASSAD_EVAL_STEPS (exprTree.h) does per node; running out fails the evaluation.
 */
export const MAX_EVAL_STEPS = 10_000_000;
/** How often (in steps) an evaluation under an EvalBudget reports its steps and checks the clock. */
const BUDGET_CHECK_STEPS = 1024;

export interface EvalState {
  cur: ClassAd | null;
  /**
   * The record that encloses records and lists written in the expression being evaluated, when it
   * is not `cur`: HTCondor evaluates the elements of a list handed to a function (sum, member,
   * join...) or projected by `.name` with the caller's current record for names, while a record or
   * list among them keeps the record it was written in (its parent scope). Undefined: `cur`.
   */
  lex: ClassAd | null | undefined;
  /**
   * A record given an alternate scope for one evaluation, and that scope: compat_classad.cpp's
   * evaluateInContext points a nested ad of MY or TARGET at the other ad (each-context.ts).
   */
  alt: readonly [ClassAd, ClassAd] | null;
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
  /** Regexp search time left for this evaluation (ms). */
  regexMs: number;
  /** The budget of the larger piece of work this evaluation is part of (one advert's match), or null. */
  budget: EvalBudget | null;
  /**
   * New-ClassAd semantics (SetOldClassAdSemantics(false)): `my` and `CurrentTime` are plain names
   * (classad.cpp's special names), and a bare name MY lacks does not fall back to TARGET (no
   * alternateScope, matchClassad.cpp).
   */
  strict: boolean;
  readonly active: Expr[];
  /** Evaluates an expression in this state: compiled closures or the tree-walker. */
  readonly run: (e: Expr, st: EvalState) => Value;
}

export type Thunk = (st: EvalState) => Value;

/** HTCondor's Evaluate() returning false (absTime(n, -1)): the whole evaluation fails, which reads as error. */
export class EvaluationFailed extends Error {}

/**
 * One evaluation step (an attribute reference, a list element): past MAX_EVAL_STEPS the evaluation
 * fails; under an EvalBudget the steps are charged to it every BUDGET_CHECK_STEPS.
 */
export function step(st: EvalState): void {
  const n = ++st.steps;
  if (n % BUDGET_CHECK_STEPS === 0) {
    if (n > MAX_EVAL_STEPS) throw new EvaluationFailed(`evaluation took more than ${MAX_EVAL_STEPS} steps`);
    st.budget?.spend(BUDGET_CHECK_STEPS);
  }
}

/** Charges an evaluation's last steps (those since its last check) to its budget. */
export function settle(st: EvalState): void {
  st.budget?.spend(st.steps % BUDGET_CHECK_STEPS);
}

/** The depth counter ran out: HTCondor's Evaluate() returns false all the way up. */
export function depthExceeded(st: EvalState): never {
  st.depth--;
  throw new EvaluationFailed("evaluation nested more than " + MAX_EVAL_DEPTH + " levels deep");
}

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
  return { cur: my, lex: undefined, alt: null, root: my !== null && target !== null ? null : topOf(my), my, target, match: null, depth: 0, steps: 0, regexMs: REGEX_EVAL_BUDGET_MS, budget: null, strict: false, active: [], run };
}

/** Re-arms a finished state for another evaluation (saves an allocation per evaluation). */
export function resetState(st: EvalState, my: ClassAd | null, target: ClassAd | null): EvalState {
  st.cur = my;
  st.lex = undefined;
  st.alt = null;
  st.root = target !== null && my !== null ? null : my === null || my.parent === null ? my : topOf(my);
  st.my = my;
  st.target = target;
  st.match = null;
  st.depth = 0;
  st.steps = 0;
  st.regexMs = REGEX_EVAL_BUDGET_MS;
  st.budget = null;
  st.strict = false;
  if (st.active.length !== 0) st.active.length = 0;
  return st;
}
