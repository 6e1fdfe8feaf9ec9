// Symmetric matching as HTCondor's negotiator does it (job as LEFT, machine as RIGHT of one
// MatchClassAd). The decision is compat_classad_util.cpp's IsAMatch: MatchClassAd::symmetricMatch
// evaluates `RIGHT.requirements && LEFT.requirements` and accepts a boolean true or a non-zero
// number (matchClassad.cpp EvalMatchExpr); undefined, error, strings... are no match. Both sides
// are reached as references, so an attribute referring back to itself is undefined.
// Rank is the negotiator's EvalFloat(ATTR_RANK, my, target) (compat_classad.cpp): with `my` on the
// left, `my`'s own Rank if it has one, else the *other* ad's Rank (evaluated in that ad, as
// target->EvaluateAttrNumber does); a number or boolean counts, anything else is 0.0 (the
// negotiator's fallback when EvalFloat fails).
import type { ClassAd } from "./classad.ts";
import { runCompiled } from "./compiler.ts";
import type { EvalBudget } from "./eval-budget.ts";
import { endsAsError, newState, resetState, settle, type EvalState } from "./eval-state.ts";
import { interpret } from "./interpreter.ts";
import { logicalAnd } from "./operators.ts";
import { evalFound } from "./scope.ts";
import { ERROR, UNDEFINED, type Value } from "./value.ts";

export interface MatchResult {
  readonly match: boolean;
  readonly jobRequirements: Value;
  readonly machineRequirements: Value;
  readonly jobRank: number;
  readonly machineRank: number;
}

/**
 * Which evaluator runs a match: compiled closures (fast when the same ads are matched again and
 * again, as in the matchmaker) or the tree-walker (no compile step: cheaper for ads seen once).
 */
export type Evaluator = "compiled" | "tree-walker";

const spares: Record<Evaluator, EvalState | null> = { compiled: newState(null, null, runCompiled), "tree-walker": newState(null, null, interpret) };

/**
 * Evaluates attribute `name` of `ad`, one side of the match of `left` and `right`; undefined when
 * `ad` lacks it. `asReference`: reached as `RIGHT.requirements` under the `&&` of symmetricMatch
 * (one operator level used, the attribute on the evaluation stack); otherwise as
 * ClassAd::EvaluateAttr (nothing used, not on the stack).
 */
function evalSide(ad: ClassAd, name: string, left: ClassAd, right: ClassAd | null, budget: EvalBudget | null, asReference = true, how: Evaluator = "compiled"): Value {
  const e = ad.lookup(name);
  if (!e) return UNDEFINED;
  const st = spares[how] ?? newState(null, null, how === "compiled" ? runCompiled : interpret);
  spares[how] = null;
  try {
    resetState(st, left, right);
    st.budget = budget;
    let v: Value;
    if (!asReference) {
      st.cur = ad;
      v = st.run(e, st);
    } else {
      st.depth = 1;
      v = evalFound(st, { expr: e, ad });
    }
    settle(st);
    return v;
  } catch (err) {
    if (endsAsError(err)) return ERROR;
    throw err;
  } finally {
    spares[how] = st;
  }
}

/** Evaluates `my`'s attribute `name` with `target` as TARGET (MY on the left of the match); undefined when `my` lacks it. */
export function evalAttrAgainst(my: ClassAd, name: string, target: ClassAd | null): Value {
  return evalSide(my, name.toLowerCase(), my, target, null);
}

/** IsNumber(double): integer, real or boolean; null when EvalFloat fails. */
function numberOf(v: Value): number | null {
  if (v.kind === "integer" || v.kind === "real") return v.value;
  if (v.kind === "boolean") return v.value ? 1 : 0;
  return null;
}

/**
 * The negotiator's rank of `target` by `my` (EvalFloat(ATTR_RANK, my, target), `my` on the left):
 * `my`'s Rank, or the target's own Rank when `my` has none; 0 when that is not a number.
 */
export function rankOf(my: ClassAd, target: ClassAd, budget: EvalBudget | null = null, how: Evaluator = "compiled"): number {
  const holder = my.lookup("rank") ? my : target.lookup("rank") ? target : null;
  if (holder === null) return 0;
  return numberOf(evalSide(holder, "rank", my, target, budget, false, how)) ?? 0;
}

/** MatchClassAd::EvalMatchExpr of a value: boolean-equivalent (non-zero number) or an integer. */
export function acceptsMatch(v: Value): boolean {
  if (v.kind === "boolean") return v.value;
  if (v.kind === "integer" || v.kind === "real") return v.value !== 0;
  return false;
}

/** `my`'s Requirements accept `target` (MatchClassAd's leftMatchesRight with MY on the left). */
export function requirementsMet(my: ClassAd, target: ClassAd): boolean {
  return acceptsMatch(evalAttrAgainst(my, "requirements", target));
}

/**
 * Both Requirements, the decision and both Ranks of one job/machine pair. Under a `budget` every
 * evaluation draws on it, and running it out throws EvalBudgetExceeded (no result at all).
 */
export function matchAds(job: ClassAd, machine: ClassAd, budget: EvalBudget | null = null, how: Evaluator = "compiled"): MatchResult {
  const jobRequirements = evalSide(job, "requirements", job, machine, budget, true, how);
  const machineRequirements = evalSide(machine, "requirements", job, machine, budget, true, how);
  return {
    match: acceptsMatch(logicalAnd(machineRequirements, jobRequirements)),
    jobRequirements,
    machineRequirements,
    jobRank: rankOf(job, machine, budget, how),
    machineRank: rankOf(machine, job, budget, how),
  };
}
