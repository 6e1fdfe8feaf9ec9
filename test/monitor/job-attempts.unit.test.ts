// The job page's attempt list: the jobs core's history is the truth, the log store adds links.
import { describe, expect, it } from "vitest";
import { mergeAttempts, type AttemptView } from "../../agents/monitor/monitor-data.ts";
import type { AttemptRecord, JobRecord } from "../../jobs/index.ts";
import { ERR } from "../../schemas/index.ts";

const job = (over: Partial<JobRecord>): JobRecord =>
  ({ jobId: "T1.000001", taskId: "T1", state: "running", site: "SITE_B", attempt: 2, pilotId: "pilot-2", createdAt: 1, updatedAt: 5_000, ...over }) as JobRecord;

const lost: AttemptRecord = { attempt: 1, site: "SITE_A", pilotId: "pilot-1", leaseToken: "t1", state: "running", ended: "lost", errorCode: String(ERR.PILOT_LOST_HEARTBEAT), message: "no heartbeat within the lease", at: 3_000 };
const logOf = (attempt: number, site: string): AttemptView => ({ attempt, site, pilotId: `pilot-${attempt}`, at: 1_000 * attempt, logUrl: `/api/jobs/T1.000001/log?attempt=${attempt}` });

describe("a job's attempts on its page", () => {
  it("shows a lost attempt from the jobs core with its code and log link, and the running one as current", () => {
    const rows = mergeAttempts(job({}), [lost], [logOf(1, "SITE_A")]);
    expect(rows).toEqual([
      { attempt: 1, site: "SITE_A", pilotId: "pilot-1", state: "running", ended: "lost", errorCode: ERR.PILOT_LOST_HEARTBEAT, errorName: "PILOT_LOST_HEARTBEAT", message: "no heartbeat within the lease", at: 3_000, logUrl: "/api/jobs/T1.000001/log?attempt=1" },
      { attempt: 2, site: "SITE_B", pilotId: "pilot-2", state: "running", ended: "current", at: 5_000 },
    ]);
  });

  it("takes the core's site and code over the log store's when both have the attempt", () => {
    const rows = mergeAttempts(job({}), [lost], [{ ...logOf(1, "SITE_OTHER"), errorCode: ERR.PAYLOAD_FAILED }]);
    expect(rows[0]).toMatchObject({ site: "SITE_A", errorCode: ERR.PILOT_LOST_HEARTBEAT, logUrl: "/api/jobs/T1.000001/log?attempt=1" });
  });

  it("keeps attempts only the log store knows, and does not call a finished job's attempt current", () => {
    const rows = mergeAttempts(job({ state: "finished", attempt: 1, pilotId: "pilot-1" }), [], [logOf(1, "SITE_A")]);
    expect(rows).toEqual([{ ...logOf(1, "SITE_A"), state: "finished" }]);
  });

  it("lists nothing for a job no pilot has taken yet", () => {
    expect(mergeAttempts(job({ state: "activated", attempt: 1, pilotId: undefined }), [], [])).toEqual([]);
  });
});
