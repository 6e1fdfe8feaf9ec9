// NATS (a private nats-server: the machine's is never touched) restarts on the same port while
// pilots run jobs. Adverts, heartbeats, credential requests and the census all ride on it; every
// client reconnects by itself. A restart shorter than a lease costs no job: none lost, no finished
// payload run twice, one accounting record per run, counters equal to the job records.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPilotStage, type PilotStage } from "../support/pilot-stage.ts";
import { startRestartableServer, type RestartableServer } from "../support/restartable-server.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Nats Restart";
const SITE = "NATS_RESTART";
const LEASE_SEC = 6;
const JOBS = 300;
const PILOTS = 4;

let nats: RestartableServer;
let stage: PilotStage;

beforeAll(async () => {
  nats = await startRestartableServer("nats", "natsrestart");
  stage = await startPilotStage({
    label: "natsrestart",
    site: SITE,
    userDn: USER_DN,
    services: { nats: nats.url },
    config: { jobs: { heartbeatSec: 0.5, leaseSec: LEASE_SEC, leaseCheckSec: 0.5 }, matchmaker: { nomatchBackoffSec: 0.2 } },
  });
}, 60_000);

afterAll(async () => {
  await stage?.stop();
  await nats?.close();
}, 60_000);

describe("NATS restarted mid-run", () => {
  it("loses no job and runs no finished payload twice; counters equal the records", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    await stage.enqueueMany(stage.shellJobs({ taskId, name: "natsrestart", count: JOBS, script: 'sleep 0.2; echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"' }));
    for (let i = 0; i < PILOTS; i++) await stage.spawnPilot(`pilot-${i}`);

    await expect.poll(() => stage.executions().size, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(60);
    await nats.stop();
    const before = stage.executions().size;
    // Down for a few heartbeats, well inside a lease.
    await new Promise((r) => setTimeout(r, 2000));
    await nats.start();
    expect(before, "jobs must still be waiting when NATS comes back").toBeLessThan(JOBS);

    const tally = await stage.tally(taskId, JOBS, 150_000);
    // A claim whose envelope the outage swallowed is a lost attempt (lease expiry, E1104), and a
    // credential request it swallowed fails its attempt (E1006) before the payload starts: both are
    // retried, neither ran a payload. Nothing else may need a second attempt.
    expect(tally.retried.filter((r) => !/ 1:pilot-\d+:(sent:lost:1104|holding:reported:1006)$/.test(r))).toEqual([]);
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
