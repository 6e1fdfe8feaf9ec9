// RabbitMQ (a private broker: the machine's is never touched) stops for longer than a lease while
// pilots keep running jobs, then starts again on the same port and data folder. The pilots' final
// reports cannot be confirmed, so each goes to the node's disk spool; their heartbeats still reach
// the matchmaker, so a job whose payload ended waits in holding, which lease expiry never requeues.
// Once the broker is back the spool drains and every report is applied: no job lost, no finished
// payload run twice, one accounting record per run, counters equal to the job records.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPilotStage, type PilotStage } from "../support/pilot-stage.ts";
import { startRestartableServer, type RestartableServer } from "../support/restartable-server.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Broker Down";
const SITE = "BROKER_DOWN";
const LEASE_SEC = 4;
const JOBS = 300;
const PILOTS = 3;

let rabbit: RestartableServer;
let stage: PilotStage;

beforeAll(async () => {
  rabbit = await startRestartableServer("rabbitmq", "brokerdown");
  stage = await startPilotStage({
    label: "brokerdown",
    site: SITE,
    userDn: USER_DN,
    services: { rabbitmq: rabbit.url },
    config: { jobs: { heartbeatSec: 0.5, leaseSec: LEASE_SEC, leaseCheckSec: 0.5 }, matchmaker: { nomatchBackoffSec: 0.2 } },
  });
}, 120_000);

afterAll(async () => {
  await stage?.stop();
  await rabbit?.close();
}, 60_000);

const spooled = (): number => {
  const dir = join(stage.workdir, ".report-spool");
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".report.json")).length : 0;
};

describe("RabbitMQ stopped for longer than a lease, then restarted", () => {
  it("spools the reports, keeps ended jobs in holding, and applies every report once the broker is back", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    // One line per execution; the pause keeps jobs coming through the outage and the broker's restart.
    await stage.enqueueMany(stage.shellJobs({ taskId, name: "brokerdown", count: JOBS, script: 'sleep 0.5; echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"' }));
    for (let i = 0; i < PILOTS; i++) await stage.spawnPilot(`pilot-${i}`);

    await expect.poll(() => stage.executions().size, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(20);
    await rabbit.stop();
    const downAt = Date.now();
    // The pilots go on; what they report lands in the spool, and the jobs that ended wait in holding.
    await expect.poll(spooled, { timeout: 30_000, interval: 200 }).toBeGreaterThan(0);
    const waited = Date.now() - downAt;
    if (waited < (LEASE_SEC + 2) * 1000) await new Promise((r) => setTimeout(r, (LEASE_SEC + 2) * 1000 - waited));
    const during = await stage.store.taskCounts(taskId);
    expect(during.holding + during.transferring).toBeGreaterThan(0);
    await rabbit.start();
    expect(stage.executions().size, "jobs must still be running when the broker comes back").toBeLessThan(JOBS);

    const tally = await stage.tally(taskId, JOBS, 150_000);
    expect(tally).toEqual({
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
    // Nothing is left behind on the node: every spooled report reached the broker.
    await expect.poll(spooled, { timeout: 30_000, interval: 200 }).toBe(0);
  }, 300_000);
});
