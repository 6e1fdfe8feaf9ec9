// Symmetric matching (HTCondor's MatchClassAd): the job's Requirements with MY = job and
// TARGET = machine, and the machine's Requirements with MY = machine and TARGET = job,
// must both be exactly `true` (undefined, error, or a number all mean no match).
// Rank is each side's Rank in the same scopes: a number, else 0.0.
import type { ClassAd } from "./classad.ts";
import { compiled, runCompiled } from "./compiler.ts";
import { endsAsError, newState, resetState, type EvalState } from "./eval-state.ts";
import { ERROR, UNDEFINED, type Value } from "./value.ts";

export interface MatchResult {
  readonly match: boolean;
  readonly jobRequirements: Value;
  readonly machineRequirements: Value;
  readonly jobRank: number;
  readonly machineRank: number;
}

/** Evaluates `my`'s attribute `name` with `target` as TARGET; undefined when `my` lacks it. */
let spare: EvalState | null = newState(null, null, runCompiled);

export function evalAttrAgainst(my: ClassAd, name: string, target: ClassAd | null): Value {
  const e = my.lookup(name.toLowerCase());
  if (!e) return UNDEFINED;
  const st = spare ?? newState(null, null, runCompiled);
  spare = null;
  try {
    return compiled(e)(resetState(st, my, target));
  } catch (err) {
    if (endsAsError(err)) return ERROR;
    throw err;
  } finally {
    spare = st;
  }
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
  const jobRequirements = evalAttrAgainst(job, "requirements", machine);
  const machineRequirements = evalAttrAgainst(machine, "requirements", job);
  const match = jobRequirements.kind === "boolean" && jobRequirements.value && machineRequirements.kind === "boolean" && machineRequirements.value;
  return {
    match,
    jobRequirements,
    machineRequirements,
    jobRank: rankOf(evalAttrAgainst(job, "rank", machine)),
    machineRank: rankOf(evalAttrAgainst(machine, "rank", job)),
  };
}
