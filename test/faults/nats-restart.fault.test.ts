// NATS (a private nats-server: the machine's is never touched) restarts on the same port while
// pilots run jobs. Adverts, heartbeats, credential requests and the census all ride on it; every
// client reconnects by itself. A restart shorter than a lease costs no job: none lost, no finished
// payload run twice, one accounting record per run, counters equal to the job records.
import { describe, expect, it } from "vitest";
import { faultRun } from "../support/pilot-stage.ts";

// The property needs jobs run on both sides of the fault (asserted below), not 300 of them: those made the run twice as long.
const JOBS = 150;
const run = faultRun({ label: "natsrestart", site: "NATS_RESTART", userDn: "/DC=org/DC=pilot-wms/OU=People/CN=Nats Restart", servers: ["nats"], leaseSec: 6, jobs: JOBS, pilots: 4 });

describe("NATS restarted mid-run", () => {
  it("loses no job and runs no finished payload twice; counters equal the records", async () => {
    await run.start({ sleepSec: 0.2 });
    await run.untilRan(60);
    const nats = run.server("nats");
    await nats.stop();
    const before = run.stage.executions().size;
    // Down for a few heartbeats, well inside a lease.
    await new Promise((r) => setTimeout(r, 2000));
    await nats.start();
    expect(before, "jobs must still be waiting when NATS comes back").toBeLessThan(JOBS);

    // A claim whose envelope the outage swallowed is never confirmed by a pilot, so it goes back to
    // its queue as the same attempt (jobs/README.md, "Confirmed claims"; it was a lost attempt, E1104,
    // before). A credential request it swallowed costs no attempt either: the pilot asks the cache
    // again with the same request (credential-client.ts). No job may need a second attempt.
    await run.expectSettled();
  }, 240_000);
});
