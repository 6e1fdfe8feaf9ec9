// The node's report spool is full (a tiny tmpfs) while RabbitMQ (a private broker) is down: a
// pilot can neither send nor spool its reports, so it keeps them in memory, takes no new job, says
// so in its census (`heldReports`) and its log (E1902), and does not exit, even when told to stop,
// until they are out. Once the broker is back every held report is applied: no job lost, no
// finished payload run twice, one accounting record per run, counters equal to the job records,
// and nothing is left in the spool folder.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection, Subscription } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, PilotCensus } from "../../schemas/index.ts";
import { openNats } from "../../platform/connections.ts";
import { faultRun } from "../support/pilot-stage.ts";
import { asRole } from "../support/test-roles.ts";

const LEASE_SEC = 4;
// The property needs jobs run on both sides of the fault (asserted below), not 300 of them: those made the run twice as long.
const JOBS = 150;
const PILOTS = 3;
// Room for a handful of report files (tmpfs counts whole pages).
const run = faultRun({ label: "spoolfull", site: "SPOOL_FULL", userDn: "/DC=org/DC=pilot-wms/OU=People/CN=Spool Full", servers: ["rabbitmq"], spoolTmpfsBytes: 16 * 1024, leaseSec: LEASE_SEC, jobs: JOBS, pilots: PILOTS });

let censusNc: NatsConnection | undefined;
let sub: Subscription | undefined;
/** The last census of each pilot. */
const census = new Map<string, PilotCensus>();

beforeAll(async () => {
  // The census is the factory's to read.
  censusNc = await openNats(asRole(run.stage.loaded, "factory").config, "test-spoolfull-census");
  sub = censusNc.subscribe(run.stage.loaded.names.subjects.pilotCensus, {
    callback: (_e, m) => {
      const c = PilotCensus.parseJson(m.data);
      census.set(c.pilotId, c);
    },
  });
});

afterAll(async () => {
  sub?.unsubscribe();
  await censusNc?.close();
});

const spoolFiles = (): string[] => readdirSync(join(run.stage.workdir, ".report-spool"));
const holding = (id: string): number => census.get(id)?.heldReports ?? 0;

describe("a full report spool during a RabbitMQ outage", () => {
  it("holds reports in memory, takes no new job, says so, exits only once they are out; nothing lost or run twice", async () => {
    const pilots = await run.start({ sleepSec: 0.1 });
    const ids = Array.from({ length: PILOTS }, (_, i) => `pilot-${i}`);

    await run.untilRan(20);
    const rabbit = run.server("rabbitmq");
    await rabbit.stop();
    // The spool fills; every pilot ends up holding reports in memory and says so in its census.
    await expect.poll(() => ids.filter((id) => holding(id) > 0), { timeout: 60_000, interval: 200 }).toEqual(ids);
    for (const id of ids) expect(run.stage.pilotOutput(id)).toMatch(new RegExp(`"code":${ERR.REPORT_SPOOLED}[^\\n]*held in memory`));
    // No new job while they hold reports, for longer than a lease: the ended jobs wait in holding.
    const ranBefore = run.stage.executions().size;
    expect(ranBefore).toBeLessThan(JOBS);
    // Told to stop (the batch system's SIGTERM), a pilot holding reports stays until they are out.
    const stopped = pilots[0];
    process.kill(stopped.pid as number, "SIGTERM");
    await new Promise((r) => setTimeout(r, (LEASE_SEC + 2) * 1000));
    expect(run.stage.executions().size).toBe(ranBefore);
    expect(stopped.exitCode).toBeNull();
    const during = await run.stage.store.taskCounts(run.taskId);
    expect(during.holding + during.transferring).toBeGreaterThan(0);

    await rabbit.start();
    // The held reports go out; the stopped pilot then exits, cleanly, and the census says none is held.
    await expect.poll(() => stopped.exitCode, { timeout: 60_000, interval: 200 }).toBe(0);
    await expect.poll(() => ids.filter((id) => holding(id) > 0), { timeout: 30_000, interval: 200 }).toEqual([]);

    await run.expectSettled();
    // Every spooled report was sent and no half-written file was left to fill the disk.
    await expect.poll(spoolFiles, { timeout: 30_000, interval: 200 }).toEqual([]);
    // Room for every wait above at its limit (~340 s): each has its own bound, and a fresh-clone CI
    // run at load 30-40 once spent the whole of a 300 s limit on 300 jobs of three pilots.
  }, 480_000);
});
