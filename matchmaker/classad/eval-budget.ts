// One budget for a piece of work made of many evaluations, such as matching one pilot's advert
// against every autocluster: a number of evaluation steps (HTCondor counts node evaluations per
// top-level evaluation, exprTree.h MAX_CLASSAD_EVAL_STEPS; here attribute references, list
// elements and regexp calls are counted) and a time allowance that regexp searches draw on
// (JavaScript's engine has no match-limit counter like PCRE2's, so its work is bounded by time).
// Spending past either ends the work with EvalBudgetExceeded, which no evaluation turns into a
// value: the caller refuses the whole piece of work.
//
// The allowance is CPU time, not wall-clock time: what it bounds is how long one advert can hold
// the event loop's CPU. On a loaded worker node (a scale-out run at load 20 on 2 cores) a process
// waits for a core for tens of milliseconds at a time, and a wall-clock deadline refused ordinary
// adverts with 1506 for time the matchmaker spent descheduled.

export interface EvalBudgetLimits {
  readonly steps: number;
  readonly ms: number;
}

/** CPU milliseconds this process has used (user + system). */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Steps between two reads of the CPU clock: a read is a getrusage call (~0.3 µs), a step far less. */
const CLOCK_EVERY = 32;

export class EvalBudget {
  /** Steps left; below zero the budget is spent. */
  steps: number;
  /** CPU time (ms) when the budget was opened. */
  private readonly cpuStart: number;
  private sinceClock = 0;

  constructor(readonly limits: EvalBudgetLimits) {
    this.steps = limits.steps;
    this.cpuStart = cpuMs();
  }

  /** CPU milliseconds left of the time allowance (0 when spent). */
  msLeft(): number {
    return Math.max(0, this.limits.ms - (cpuMs() - this.cpuStart));
  }

  /** Takes `n` steps and, every few calls, checks the CPU clock; throws EvalBudgetExceeded when either is spent. */
  spend(n: number): void {
    this.steps -= n;
    if (this.steps < 0) throw new EvalBudgetExceeded(`more than ${this.limits.steps} evaluation steps`);
    if (++this.sinceClock < CLOCK_EVERY) return;
    this.sinceClock = 0;
    if (cpuMs() - this.cpuStart > this.limits.ms) throw new EvalBudgetExceeded(`more than ${this.limits.ms} ms of evaluation (CPU time)`);
  }
}

/** The budget ran out: not a value of any expression, the end of the whole piece of work. */
export class EvalBudgetExceeded extends Error {
  constructor(readonly detail: string) {
    super(`evaluation budget exceeded: ${detail}`);
  }
}
