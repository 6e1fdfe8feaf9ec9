// Every matchmaker process dies at once (SIGKILL: no clean-up, claims in flight, no lease checks)
// while pilots run jobs, and new ones start a moment later. Adverts and heartbeats go unanswered
// meanwhile; the job records in Redis are the truth the new matchmakers pick up from. Nothing is
// lost, no finished payload runs twice, one accounting record per run, counters equal the records.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPilotStage, type PilotStage } from "../support/pilot-stage.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Matchmakers Killed";
const SITE = "MM_KILLED";
const LEASE_SEC = 6;
const JOBS = 300;
const PILOTS = 4;

let stage: PilotStage;

beforeAll(async () => {
  stage = await startPilotStage({
    label: "mmkilled",
    site: SITE,
    userDn: USER_DN,
    matchmakerProcesses: 2,
    config: { jobs: { heartbeatSec: 0.5, leaseSec: LEASE_SEC, leaseCheckSec: 0.5 }, matchmaker: { nomatchBackoffSec: 0.2 } },
  });
  await stage.matchmakerAnswers(30_000);
}, 60_000);

afterAll(async () => {
  await stage?.stop();
}, 60_000);

describe("all matchmakers killed and restarted mid-run", () => {
  it("loses no job and runs no finished payload twice; counters equal the records", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    await stage.enqueueMany(stage.shellJobs({ taskId, name: "mmkilled", count: JOBS, script: 'sleep 0.2; echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"' }));
    for (let i = 0; i < PILOTS; i++) await stage.spawnPilot(`pilot-${i}`);

    await expect.poll(() => stage.executions().size, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(60);
    await stage.killMatchmakers();
    await new Promise((r) => setTimeout(r, 1000));
    stage.startMatchmakers();
    await stage.matchmakerAnswers(30_000);
    expect(stage.executions().size, "jobs must still be waiting when the matchmakers come back").toBeLessThan(JOBS);

    const tally = await stage.tally(taskId, JOBS, 150_000);
    // A claim whose envelope died with its matchmaker is a lost attempt (lease expiry, E1104): retried,
    // its payload never ran. Nothing else may need a second attempt.
    expect(tally.retried.filter((r) => !/ 1:pilot-\d+:sent:lost:1104$/.test(r))).toEqual([]);
    expect(tally).toEqual({
      notFinished: [],
      ran: JOBS,
      ranTwice: [],
      retried: tally.retried,
      taskCounts: { finished: JOBS },
      siteCounts: { finished: JOBS },
      taskStatus: "done",
      waiting: 0,
      accounted: JOBS,
      repairs: [],
    });
  }, 240_000);
});
