// The job-state agent dies for longer than a lease while pilots keep running jobs. Their reports
// wait in RabbitMQ; their heartbeats still reach the matchmaker, so a job whose payload ended waits
// in holding, which lease expiry never requeues. When a new agent starts, every report is applied:
// no job is lost, no finished payload ran twice, and the counters equal the job records.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPilotStage, type PilotStage } from "../support/pilot-stage.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Agents Down";
const SITE = "AGENTS_DOWN";
const LEASE_SEC = 4;
const JOBS = 300;
const PILOTS = 4;

let stage: PilotStage;

beforeAll(async () => {
  stage = await startPilotStage({
    label: "agentsdown",
    site: SITE,
    userDn: USER_DN,
    config: { jobs: { heartbeatSec: 0.5, leaseSec: LEASE_SEC, leaseCheckSec: 0.5 }, matchmaker: { nomatchBackoffSec: 0.2 } },
  });
});

afterAll(async () => {
  await stage?.stop();
});

describe("the job-state agent down for longer than a lease", () => {
  it("loses no job and runs no finished payload twice; counters equal the records", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    const jobs = stage.shellJobs({
      taskId,
      name: "agentsdown",
      count: JOBS,
      // One line per execution: the test counts how often each payload ran.
      script: 'echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"',
    });
    await stage.enqueueMany(jobs);
    for (let i = 0; i < PILOTS; i++) await stage.spawnPilot(`pilot-${i}`);

    // Some jobs done, then the agent dies while the pilots go on.
    await expect.poll(() => stage.executions().size, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(30);
    await stage.stopAgents();
    const downAt = Date.now();
    await expect.poll(() => stage.executions().size, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(90);
    const waited = Date.now() - downAt;
    if (waited < (LEASE_SEC + 2) * 1000) await new Promise((r) => setTimeout(r, (LEASE_SEC + 2) * 1000 - waited));
    // No report was applied meanwhile: the payloads that ended wait in holding, none was requeued.
    const counts = await stage.store.taskCounts(taskId);
    expect(counts.holding + counts.transferring).toBeGreaterThan(0);
    await stage.startAgents();

    // Each job ran once, so none needed a second attempt; every accounting record arrived once; the
    // counters and queues agree with the records (reconciliation finds nothing to repair).
    expect(await stage.tally(taskId, JOBS, 150_000)).toEqual({
      notFinished: [],
      ran: JOBS,
      ranTwice: [],
      retried: [],
      taskCounts: { finished: JOBS },
      siteCounts: { finished: JOBS },
      taskStatus: "done",
      waiting: 0,
      accounted: JOBS,
      repairs: [],
    });
  }, 240_000);
});
