// The job-state agent dies for longer than a lease while pilots keep running jobs. Their reports
// wait in RabbitMQ; their heartbeats still reach the matchmaker, so a job whose payload ended waits
// in holding, which lease expiry never requeues. When a new agent starts, every report is applied:
// no job is lost, no finished payload ran twice, and the counters equal the job records.
import { describe, expect, it } from "vitest";
import { faultRun } from "../support/pilot-stage.ts";

const LEASE_SEC = 4;
// The property needs jobs ended while the agent is down (90 run before it is back) and after, not 300 of them: those made the run twice as long.
const JOBS = 150;
const run = faultRun({ label: "agentsdown", site: "AGENTS_DOWN", userDn: "/DC=org/DC=pilot-wms/OU=People/CN=Agents Down", leaseSec: LEASE_SEC, jobs: JOBS, pilots: 4 });

describe("the job-state agent down for longer than a lease", () => {
  it("loses no job and runs no finished payload twice; counters equal the records", async () => {
    await run.start();
    // Some jobs done, then the agent dies while the pilots go on.
    await run.untilRan(30);
    await run.stage.stopAgents();
    const downAt = Date.now();
    await run.untilRan(90);
    const waited = Date.now() - downAt;
    if (waited < (LEASE_SEC + 2) * 1000) await new Promise((r) => setTimeout(r, (LEASE_SEC + 2) * 1000 - waited));
    // No report was applied meanwhile: the payloads that ended wait in holding, none was requeued.
    const counts = await run.stage.store.taskCounts(run.taskId);
    expect(counts.holding + counts.transferring).toBeGreaterThan(0);
    await run.stage.startAgents();

    // Each job ran once, so none needed a second attempt; every accounting record arrived once; the
    // counters and queues agree with the records (reconciliation finds nothing to repair).
    await run.expectSettled();
  }, 240_000);
});
