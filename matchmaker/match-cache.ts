// Match decisions per (machine-ad signature, autocluster). Identical pilots send ads that differ
// only in attributes no job looks at (PilotId, Machine), so the signature over the attributes the
// two sides' expressions reference is the same and the decision is computed once. Pure: no I/O.
import { matchAds, parseClassAd, referencedAttributes, signature, type ClassAd, type EvalBudget } from "./classad/index.ts";
import { jobAdText, type AutoclusterKey } from "../jobs/index.ts";

/** The outcome of evaluating one machine against one autocluster's representative job. */
export interface MatchDecision {
  readonly match: boolean;
  /**
   * The job's Rank of this machine as the negotiator computes it (EvalFloat(ATTR_RANK, job,
   * machine): the machine's own Rank when the job has none); higher is better, 0 when not a number.
   */
  readonly jobRank: number;
}

interface PreparedAutocluster {
  readonly ad: ClassAd;
  /** Machine attributes the job's Requirements and Rank can see. */
  readonly refs: readonly string[];
}

export interface MatchCacheOptions {
  /** Decisions kept before the cache starts over (bounds memory on a churning pool). */
  readonly maxDecisions?: number;
  readonly maxAutoclusters?: number;
  /** Distinct machine-ad texts kept parsed. */
  readonly maxAds?: number;
}

/** Numbers from ClassAd values (integer or real); anything else ranks 0. */
function rankNumber(v: unknown): number {
  if (typeof v === "number") return Number.isFinite(v) ? v : 0;
  if (v && typeof v === "object" && "kind" in v && "value" in v) {
    const kind = (v as { kind: unknown }).kind;
    const value = (v as { value: unknown }).value;
    if ((kind === "integer" || kind === "real") && typeof value === "number" && Number.isFinite(value)) return value;
  }
  return 0;
}

function refsOf(ad: ClassAd, attrs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const a of attrs) {
    const e = ad.get(a);
    if (!e) continue;
    const r = referencedAttributes(e);
    for (const n of r.my) out.add(String(n).toLowerCase());
    for (const n of r.target) out.add(String(n).toLowerCase());
  }
  return [...out];
}

export class MatchCache {
  private readonly decisions = new Map<string, MatchDecision>();
  /** A pilot re-advertises the same ad text: parse it once, and remember its decisions per autocluster. */
  private readonly ads = new Map<string, ClassAd>();
  private readonly perAd = new WeakMap<ClassAd, { refs: string[]; byAc: Map<string, MatchDecision> }>();
  private readonly maxAds: number;
  private readonly prepared = new Map<string, PreparedAutocluster>();
  private readonly maxDecisions: number;
  private readonly maxAutoclusters: number;
  hits = 0;
  misses = 0;

  constructor(opts: MatchCacheOptions = {}) {
    this.maxDecisions = opts.maxDecisions ?? 200_000;
    this.maxAutoclusters = opts.maxAutoclusters ?? 20_000;
    this.maxAds = opts.maxAds ?? 5_000;
  }

  /** Parses a machine ad, reusing the parse of an identical text. Throws ClassAdParseError. */
  machineAd(text: string): ClassAd {
    let ad = this.ads.get(text);
    if (!ad) {
      ad = parseClassAd(text);
      if (this.ads.size >= this.maxAds) this.ads.clear();
      this.ads.set(text, ad);
    }
    return ad;
  }

  /** Ads whose match ran out of its evaluation budget: refused again at once when re-sent. */
  private readonly overBudget = new WeakSet<ClassAd>();

  /** Remembers that matching `machine` ran out of its evaluation budget. */
  markOverBudget(machine: ClassAd): void {
    this.overBudget.add(machine);
  }

  isOverBudget(machine: ClassAd): boolean {
    return this.overBudget.has(machine);
  }

  /** The decision `decideFor` remembered for this ad and autocluster, if any (nothing is evaluated). */
  known(machine: ClassAd, ac: string): MatchDecision | undefined {
    return this.perAd.get(machine)?.byAc.get(ac);
  }

  /**
   * `decide` for an ad from `machineAd`, memoized on the ad object (no signature work on a repeat).
   * Evaluations draw on `budget`; running it out throws EvalBudgetExceeded.
   */
  decideFor(machine: ClassAd, ac: string, key: AutoclusterKey, budget: EvalBudget | null = null): MatchDecision {
    let memo = this.perAd.get(machine);
    if (!memo) {
      memo = { refs: this.machineRefs(machine), byAc: new Map() };
      this.perAd.set(machine, memo);
    }
    let d = memo.byAc.get(ac);
    if (!d) {
      d = this.decide(machine, memo.refs, ac, key, budget);
      memo.byAc.set(ac, d);
    }
    return d;
  }

  /** The job ad of an autocluster, parsed once. Throws ClassAdParseError for a bad expression. */
  private prepare(ac: string, key: AutoclusterKey): PreparedAutocluster {
    let p = this.prepared.get(ac);
    if (!p) {
      const ad = parseClassAd(jobAdText(key));
      p = { ad, refs: refsOf(ad, ["Requirements", "Rank"]) };
      if (this.prepared.size >= this.maxAutoclusters) this.prepared.clear();
      this.prepared.set(ac, p);
    }
    return p;
  }

  /**
   * What the machine's own Requirements and Rank look at, computed once per advert: the cache key
   * must cover both sides, since the machine may refuse jobs by attributes the job never mentions.
   */
  machineRefs(machine: ClassAd): string[] {
    return ["requirements", "rank", ...refsOf(machine, ["Requirements", "Rank"])];
  }

  /**
   * Symmetric match of `machine` against the autocluster's job, as IsAMatch decides it.
   * A job whose expressions do not parse never matches (the intake refuses those; this is defence).
   */
  decide(machine: ClassAd, machineRefs: readonly string[], ac: string, key: AutoclusterKey, budget: EvalBudget | null = null): MatchDecision {
    let p: PreparedAutocluster;
    try {
      p = this.prepare(ac, key);
    } catch {
      return { match: false, jobRank: 0 };
    }
    const attrs = p.refs.length ? [...new Set([...machineRefs, ...p.refs])] : machineRefs;
    const cacheKey = `${ac}\n${signature(machine, attrs)}`;
    const hit = this.decisions.get(cacheKey);
    if (hit) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const r = matchAds(p.ad, machine, budget);
    const d: MatchDecision = { match: r.match === true, jobRank: r.match === true ? rankNumber(r.jobRank) : 0 };
    if (this.decisions.size >= this.maxDecisions) this.decisions.clear();
    this.decisions.set(cacheKey, d);
    return d;
  }

  /** Forget autoclusters that left the index (their ids never come back with other contents). */
  forget(ac: string): void {
    this.prepared.delete(ac);
  }
}
