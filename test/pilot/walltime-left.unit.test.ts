import { describe, expect, it } from "vitest";
import { UNBOUNDED_WALLTIME_SEC, walltimeDeadline, walltimeLeftSec } from "../../agents/pilot/walltime-left.ts";

const start = 1_700_000_000_000;

describe("walltime left", () => {
  it("counts an explicit --walltime from the pilot's start", () => {
    const d = walltimeDeadline({ optionSec: 600, env: { SLURM_JOB_END_TIME: String(start / 1000 + 60) }, startedAtMs: start });
    expect(d.source).toBe("option");
    expect(walltimeLeftSec(d, start + 100_000)).toBe(500);
  });

  it("reads Slurm's job end time when no option is given", () => {
    const d = walltimeDeadline({ env: { SLURM_JOB_END_TIME: String(start / 1000 + 3600) }, startedAtMs: start });
    expect(d.source).toBe("slurm");
    expect(walltimeLeftSec(d, start + 600_000)).toBe(3000);
  });

  it("reads MaxRuntime from an HTCondor job ad, counted from the job's start date", () => {
    const ad = `ClusterId = 12\nJobCurrentStartDate = ${start / 1000 - 100}\nMaxRuntime = 1000\nOwner = "pilot"\n`;
    const d = walltimeDeadline({ env: {}, condorJobAd: ad, startedAtMs: start });
    expect(d.source).toBe("condor");
    expect(walltimeLeftSec(d, start)).toBe(900);
  });

  it("reads MaxWallTimeMins in minutes when MaxRuntime is absent", () => {
    const d = walltimeDeadline({ env: {}, condorJobAd: "MaxWallTimeMins = 30\n", startedAtMs: start });
    expect(walltimeLeftSec(d, start)).toBe(1800);
  });

  it("advertises a week when nothing bounds the slot, and never a negative number", () => {
    const none = walltimeDeadline({ env: { SLURM_JOB_END_TIME: "garbage" }, startedAtMs: start });
    expect(none.source).toBe("none");
    expect(walltimeLeftSec(none, start)).toBe(UNBOUNDED_WALLTIME_SEC);
    const past = walltimeDeadline({ optionSec: 10, env: {}, startedAtMs: start });
    expect(walltimeLeftSec(past, start + 60_000)).toBe(0);
  });
});
