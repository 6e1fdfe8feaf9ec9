import { JOB_STATES, type JobState } from "../../jobs/index.ts";

export interface HistoryPoint {
  at: number;
  states: Record<JobState, number>;
  errors: Record<string, number>;
}

/** The ranges the dashboard's picker offers, and how far back each reaches. */
export const HISTORY_RANGES = { hour: 3600_000, day: 86_400_000, week: 7 * 86_400_000 } as const;
export type HistoryRange = keyof typeof HISTORY_RANGES;

/** One ring per resolution: every sample for the last hour, one a minute for a day, one per ten minutes for a week. */
const TIERS: ReadonlyArray<{ readonly stepMs: number; readonly capacity: number }> = [
  { stepMs: 0, capacity: 720 },
  { stepMs: 60_000, capacity: 1440 },
  { stepMs: 600_000, capacity: 1008 },
];

/**
 * Recent samples for the "over time" charts, kept at three resolutions so a week fits in a few
 * thousand points. In memory on purpose: it is a view a restarted monitor rebuilds, not a record
 * anything else depends on (Prometheus keeps the long history; deploy/grafana reads it).
 */
export class History {
  private readonly tiers: HistoryPoint[][] = TIERS.map(() => []);

  add(point: HistoryPoint): void {
    TIERS.forEach((t, i) => {
      const ring = this.tiers[i];
      const last = ring.at(-1);
      if (last !== undefined && point.at - last.at < t.stepMs) return;
      ring.push(point);
      if (ring.length > t.capacity) ring.splice(0, ring.length - t.capacity);
    });
  }

  /** The points within `range` of `nowMs`, from the finest resolution that reaches that far back. */
  series(range: HistoryRange = "hour", nowMs = Date.now()): { states: readonly JobState[]; range: HistoryRange; from: number; to: number; points: readonly HistoryPoint[] } {
    const from = nowMs - HISTORY_RANGES[range];
    const tier = range === "hour" ? 0 : range === "day" ? 1 : 2;
    // A young monitor has no coarse samples yet: fall back to the finer rings it has.
    let ring = this.tiers[tier];
    for (let i = tier; i >= 0 && ring.length < 2; i--) ring = this.tiers[i];
    return { states: JOB_STATES, range, from, to: nowMs, points: ring.filter((p) => p.at >= from && p.at <= nowMs) };
  }
}
