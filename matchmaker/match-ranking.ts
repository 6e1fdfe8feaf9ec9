// The order in which a pilot is offered the autoclusters that match it: task priority first, then
// the owner's fair-share standing (less accounted wall time first), then the job's Rank of this
// machine. Pure: usage figures are looked up by the caller and passed in.
import type { AutoclusterKey } from "../jobs/index.ts";

export interface RankedCandidate {
  readonly ac: string;
  readonly key: AutoclusterKey;
  readonly jobRank: number;
}

export function orderCandidates<C extends RankedCandidate>(candidates: readonly C[], usageOf: (userDn: string) => number): C[] {
  return [...candidates].sort(
    (a, b) =>
      b.key.priority - a.key.priority ||
      usageOf(a.key.userDn) - usageOf(b.key.userDn) ||
      b.jobRank - a.jobRank ||
      (a.ac < b.ac ? -1 : a.ac > b.ac ? 1 : 0),
  );
}
