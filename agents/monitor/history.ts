import { JOB_STATES, type JobState } from "../../matchmaker/job-store.ts";

export interface HistoryPoint {
  at: number;
  states: Record<JobState, number>;
  errors: Record<string, number>;
}

/**
 * A ring of recent samples for the "over time" charts. In memory on purpose: it is a view a
 * restarted monitor rebuilds within minutes, not a record anything else depends on.
 */
export class History {
  private readonly points: HistoryPoint[] = [];

  constructor(private readonly capacity = 720) {}

  add(point: HistoryPoint): void {
    this.points.push(point);
    if (this.points.length > this.capacity) this.points.splice(0, this.points.length - this.capacity);
  }

  series(): { states: readonly JobState[]; points: readonly HistoryPoint[] } {
    return { states: JOB_STATES, points: this.points };
  }
}
