// Symmetric matching (HTCondor's MatchClassAd, job as LEFT and machine as RIGHT): the job's
// Requirements (MY = job, TARGET = machine) and the machine's Requirements (MY = machine,
// TARGET = job) must both be exactly `true` (undefined, error, or a number all mean no match).
// Rank is each side's Rank in the same scopes: a number, else 0.0. Both sides are evaluated in
// the one match record, so `.LEFT` is the job and `.RIGHT` the machine from either side, and as
// references (`RIGHT.requirements && LEFT.requirements`), so an attribute referring back to
// itself is undefined.
import type { ClassAd } from "./classad.ts";
import { runCompiled } from "./compiler.ts";
import { endsAsError, newState, resetState, type EvalState } from "./eval-state.ts";
import { evalFound } from "./scope.ts";
import { ERROR, UNDEFINED, type Value } from "./value.ts";

export interface MatchResult {
  readonly match: boolean;
  readonly jobRequirements: Value;
  readonly machineRequirements: Value;
  readonly jobRank: number;
  readonly machineRank: number;
}

let spare: EvalState | null = newState(null, null, runCompiled);

/** Evaluates attribute `name` of `ad`, one side of the match of `left` and `right`; undefined when `ad` lacks it. */
function evalSide(ad: ClassAd, name: string, left: ClassAd, right: ClassAd | null): Value {
  const e = ad.lookup(name);
  if (!e) return UNDEFINED;
  const st = spare ?? newState(null, null, runCompiled);
  spare = null;
  try {
    resetState(st, left, right);
    // MatchClassAd evaluates `LEFT.requirements`-style references, so the attribute is on the
    // evaluation stack: a reference back to it inside is undefined.
    return evalFound(st, { expr: e, ad });
  } catch (err) {
    if (endsAsError(err)) return ERROR;
    throw err;
  } finally {
    spare = st;
  }
}

/** Evaluates `my`'s attribute `name` with `target` as TARGET (MY on the left of the match); undefined when `my` lacks it. */
export function evalAttrAgainst(my: ClassAd, name: string, target: ClassAd | null): Value {
  return evalSide(my, name.toLowerCase(), my, target);
}

function rankOf(v: Value): number {
  if (v.kind === "integer" || v.kind === "real") return Number.isFinite(v.value) ? v.value : 0;
  if (v.kind === "boolean") return v.value ? 1 : 0;
  return 0;
}

export function requirementsMet(my: ClassAd, target: ClassAd): boolean {
  const v = evalAttrAgainst(my, "requirements", target);
  return v.kind === "boolean" && v.value;
}

export function matchAds(job: ClassAd, machine: ClassAd): MatchResult {
  const jobRequirements = evalSide(job, "requirements", job, machine);
  const machineRequirements = evalSide(machine, "requirements", job, machine);
  const match = jobRequirements.kind === "boolean" && jobRequirements.value && machineRequirements.kind === "boolean" && machineRequirements.value;
  return {
    match,
    jobRequirements,
    machineRequirements,
    jobRank: rankOf(evalSide(job, "rank", job, machine)),
    machineRank: rankOf(evalSide(machine, "rank", job, machine)),
  };
}
