// The order in which a pilot is offered the autoclusters that match it: task priority first, then
// the owner's fair-share standing (less accounted wall time first), then the job's Rank of this
// machine. Pure: usage figures are looked up by the caller and passed in.
import type { AutoclusterKey } from "../jobs/index.ts";

export interface RankedCandidate {
  readonly ac: string;
  readonly key: AutoclusterKey;
  readonly jobRank: number;
}

function compare(a: RankedCandidate, b: RankedCandidate, usageOf: (userDn: string) => number): number {
  return b.key.priority - a.key.priority || usageOf(a.key.userDn) - usageOf(b.key.userDn) || b.jobRank - a.jobRank || (a.ac < b.ac ? -1 : a.ac > b.ac ? 1 : 0);
}

export function orderCandidates<C extends RankedCandidate>(candidates: readonly C[], usageOf: (userDn: string) => number): C[] {
  // Two candidates (a site's usual case) are put in order with one comparison: a sort copied
  // them, made a closure and a work array, on every advert.
  if (candidates.length === 2) {
    const [a, b] = candidates;
    return compare(a, b, usageOf) <= 0 ? [a, b] : [b, a];
  }
  return [...candidates].sort((a, b) => compare(a, b, usageOf));
}
