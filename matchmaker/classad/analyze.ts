// Why a job matches no machine, in the spirit of condor_q -better-analyze: the job's Requirements
// cut into its top-level && clauses, how many machines each clause accepts, and which machines'
// own Requirements refuse the job. Pure: the ads come in parsed.
import type { Expr } from "./ast.ts";
import type { ClassAd } from "./classad.ts";
import { evaluate } from "./evaluate.ts";
import { acceptsMatch, evalAttrAgainst, matchAds } from "./match.ts";
import { unparse } from "./unparse.ts";

export interface ClauseAnalysis {
  /** The clause as HTCondor prints it. */
  readonly clause: string;
  /** Machines for which the clause is true (or a non-zero number). */
  readonly machinesAccepting: number;
}

export interface MatchAnalysis {
  readonly machines: number;
  /** Machines matching both ways (IsAMatch). */
  readonly matching: number;
  /** The job's Requirements as printed, or "" when it has none. */
  readonly jobRequirements: string;
  readonly clauses: readonly ClauseAnalysis[];
  /** Machines the job's Requirements accept. */
  readonly acceptedByJob: number;
  /** Machines whose own Requirements accept the job. */
  readonly acceptingJob: number;
  /** Names (Name, else Machine, else "#index") of the machines whose Requirements refuse the job. */
  readonly machinesRejectingJob: readonly string[];
}

/** The top-level && operands, parentheses around the whole or around an operand dropped. */
export function conjuncts(e: Expr): Expr[] {
  const inner = e.type === "paren" ? e.inner : e;
  if (inner.type === "binary" && inner.op === "&&") return [...conjuncts(inner.left), ...conjuncts(inner.right)];
  return [inner];
}

function nameOf(machine: ClassAd, index: number): string {
  for (const attr of ["Name", "Machine"]) {
    const v = machine.evaluateAttr(attr);
    if (v.kind === "string") return v.value;
  }
  return `#${index}`;
}

export function analyzeMatch(job: ClassAd, machines: readonly ClassAd[]): MatchAnalysis {
  const req = job.get("Requirements");
  const parts = req ? conjuncts(req) : [];
  const counts = parts.map(() => 0);
  let matching = 0;
  let acceptedByJob = 0;
  let acceptingJob = 0;
  const rejecting: string[] = [];
  machines.forEach((machine, i) => {
    if (matchAds(job, machine).match) matching++;
    if (acceptsMatch(evalAttrAgainst(job, "requirements", machine))) acceptedByJob++;
    // A machine without Requirements refuses every job, as IsAMatch does.
    if (acceptsMatch(evalAttrAgainst(machine, "requirements", job))) acceptingJob++;
    else rejecting.push(nameOf(machine, i));
    parts.forEach((clause, k) => {
      if (acceptsMatch(evaluate(clause, job, machine))) counts[k]++;
    });
  });
  return {
    machines: machines.length,
    matching,
    jobRequirements: req ? unparse(req) : "",
    clauses: parts.map((clause, k) => ({ clause: unparse(clause), machinesAccepting: counts[k] })),
    acceptedByJob,
    acceptingJob,
    machinesRejectingJob: rejecting,
  };
}
