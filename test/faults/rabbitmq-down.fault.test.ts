// RabbitMQ (a private broker: the machine's is never touched) stops for longer than a lease while
// pilots keep running jobs, then starts again on the same port and data folder. The pilots' final
// reports cannot be confirmed, so each goes to the node's disk spool; their heartbeats still reach
// the matchmaker, so a job whose payload ended waits in holding, which lease expiry never requeues.
// Once the broker is back the spool drains and every report is applied: no job lost, no finished
// payload run twice, one accounting record per run, counters equal to the job records.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { faultRun } from "../support/pilot-stage.ts";

const LEASE_SEC = 4;
const JOBS = 300;
const run = faultRun({ label: "brokerdown", site: "BROKER_DOWN", userDn: "/DC=org/DC=pilot-wms/OU=People/CN=Broker Down", servers: ["rabbitmq"], leaseSec: LEASE_SEC, jobs: JOBS, pilots: 3 });

const spooled = (): number => {
  const dir = join(run.stage.workdir, ".report-spool");
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".report.json")).length : 0;
};

describe("RabbitMQ stopped for longer than a lease, then restarted", () => {
  it("spools the reports, keeps ended jobs in holding, and applies every report once the broker is back", async () => {
    // The pause keeps jobs coming through the outage and the broker's restart.
    await run.start({ sleepSec: 0.5 });
    await run.untilRan(20);
    const rabbit = run.server("rabbitmq");
    await rabbit.stop();
    const downAt = Date.now();
    // The pilots go on; what they report lands in the spool, and the jobs that ended wait in holding.
    await expect.poll(spooled, { timeout: 30_000, interval: 200 }).toBeGreaterThan(0);
    const waited = Date.now() - downAt;
    if (waited < (LEASE_SEC + 2) * 1000) await new Promise((r) => setTimeout(r, (LEASE_SEC + 2) * 1000 - waited));
    const during = await run.stage.store.taskCounts(run.taskId);
    expect(during.holding + during.transferring).toBeGreaterThan(0);
    await rabbit.start();
    expect(run.stage.executions().size, "jobs must still be running when the broker comes back").toBeLessThan(JOBS);

    await run.expectSettled();
    // Nothing is left behind on the node: every spooled report reached the broker.
    await expect.poll(spooled, { timeout: 30_000, interval: 200 }).toBe(0);
  }, 300_000);
});
