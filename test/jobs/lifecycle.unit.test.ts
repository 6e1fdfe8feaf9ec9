import { describe, expect, it } from "vitest";
import { FINAL_STATES, JOB_STATES, LEASED_STATES, MOVES, REPORTING_STATES, TASK_STATUSES, canMove, isFinal, predecessors, rollUpTask, type JobState } from "../../jobs/index.ts";

describe("job life cycle", () => {
  it("lets nothing leave a final state", () => {
    for (const s of FINAL_STATES) expect(MOVES[s]).toEqual([]);
    for (const s of JOB_STATES) for (const f of FINAL_STATES) expect(canMove(f, s)).toBe(false);
  });

  it("reaches every state from defined, and a final state from every other one", () => {
    const seen = new Set<JobState>(["defined"]);
    const todo: JobState[] = ["defined"];
    while (todo.length) {
      for (const n of MOVES[todo.pop() as JobState]) {
        if (seen.has(n)) continue;
        seen.add(n);
        todo.push(n);
      }
    }
    expect([...seen].sort()).toEqual([...JOB_STATES].sort());
    for (const s of JOB_STATES) if (!isFinal(s)) expect(MOVES[s].some((n) => isFinal(n))).toBe(true);
  });

  it("queues a job from defined/assigned, and sends it back only from a state a pilot holds it in", () => {
    expect(predecessors("activated").sort()).toEqual(["defined", "assigned", ...LEASED_STATES, ...REPORTING_STATES].sort());
    // A pilot's job never goes back to defined/assigned, and a queued job is never holding.
    expect(canMove("activated", "holding")).toBe(false);
    expect(canMove("running", "defined")).toBe(false);
  });

  it("names task statuses apart from job states", () => {
    for (const t of TASK_STATUSES) expect((JOB_STATES as readonly string[]).includes(t)).toBe(false);
  });

  it("rolls a task up: done only when every job finished", () => {
    expect(rollUpTask({ finished: 3 }, 3, "active")).toBe("done");
    expect(rollUpTask({ finished: 2, running: 1 }, 3, "active")).toBe("active");
    expect(rollUpTask({ finished: 2, holding: 1 }, 3, "active")).toBe("active");
    expect(rollUpTask({ finished: 2, failed: 1 }, 3, "active")).toBe("partial");
    expect(rollUpTask({ finished: 1, cancelled: 2 }, 3, "active")).toBe("partial");
    expect(rollUpTask({ failed: 1, cancelled: 2 }, 3, "active")).toBe("broken");
    expect(rollUpTask({ cancelled: 2, closed: 1 }, 3, "active")).toBe("aborted");
    expect(rollUpTask({ finished: 3 }, 3, "aborted")).toBe("aborted");
    expect(rollUpTask({ activated: 1, failed: 2 }, 3, "broken")).toBe("active");
  });

  it("keeps an open task active however many of its jobs are final, and rolls it up once closed", () => {
    expect(rollUpTask({ finished: 3 }, 3, "active", true)).toBe("active");
    expect(rollUpTask({}, 0, "active", true)).toBe("active");
    expect(rollUpTask({ finished: 3 }, 3, "active", false)).toBe("done");
    expect(rollUpTask({ finished: 3 }, 3, "aborted", true)).toBe("aborted");
    // Closed with no job (its producer wrote nothing): the status it was closed with stays.
    expect(rollUpTask({}, 0, "broken")).toBe("broken");
  });
});
