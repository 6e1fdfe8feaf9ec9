// One budget for a piece of work made of many evaluations, such as matching one pilot's advert
// against every autocluster: a number of evaluation steps (HTCondor counts node evaluations per
// top-level evaluation, exprTree.h MAX_CLASSAD_EVAL_STEPS; here attribute references, list
// elements and regexp calls are counted) and a wall-clock allowance that regexp searches draw on
// (JavaScript's engine has no match-limit counter like PCRE2's, so its work is bounded by time).
// Spending past either ends the work with EvalBudgetExceeded, which no evaluation turns into a
// value: the caller refuses the whole piece of work.

export interface EvalBudgetLimits {
  readonly steps: number;
  readonly ms: number;
}

export class EvalBudget {
  /** Steps left; below zero the budget is spent. */
  steps: number;
  /** performance.now() at which the time allowance ends. */
  readonly deadline: number;

  constructor(readonly limits: EvalBudgetLimits) {
    this.steps = limits.steps;
    this.deadline = performance.now() + limits.ms;
  }

  /** Milliseconds left of the time allowance (0 when spent). */
  msLeft(): number {
    return Math.max(0, this.deadline - performance.now());
  }

  /** Takes `n` steps and checks the clock; throws EvalBudgetExceeded when either is spent. */
  spend(n: number): void {
    this.steps -= n;
    if (this.steps < 0) throw new EvalBudgetExceeded(`more than ${this.limits.steps} evaluation steps`);
    if (performance.now() > this.deadline) throw new EvalBudgetExceeded(`more than ${this.limits.ms} ms of evaluation`);
  }
}

/** The budget ran out: not a value of any expression, the end of the whole piece of work. */
export class EvalBudgetExceeded extends Error {
  constructor(readonly detail: string) {
    super(`evaluation budget exceeded: ${detail}`);
  }
}
