// Cancelling a running job through the real matchmaker: the owner's cancel marks the job record
// `cancelled` (as the intake's task control does), the next heartbeat reply carries it to the pilot,
// and the pilot kills the payload. The user notices a payload gone within about one heartbeat.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ERR, type Report, type StateReport } from "../../schemas/index.ts";
import { runPilot } from "../../agents/pilot/index.ts";
import { pilotFixture, type PilotFixture } from "./support/pilot-fixture.ts";
import { isAlive, processRef } from "../../platform/process-identity.ts";

let fx: PilotFixture;
beforeAll(async () => {
  fx = await pilotFixture("pilotcancel", {}, { matchmaker: "real" });
});
afterAll(async () => {
  await fx?.close();
});

/** Alive and not a zombie (the platform's own test, which `wms up` and the factory use too). */
const alive = (pid: number): boolean => isAlive(processRef(pid));

describe("wms task cancel of a running job", () => {
  it("kills the payload within one heartbeat interval and the job stays cancelled", async () => {
    const real = fx.real;
    if (!real) throw new Error("fixture without the real matchmaker");
    const heartbeatSec = 0.4;
    const pidFile = path.join(fx.root, "cancel-payload.pid");
    // `exec` so the pid in the file is the long sleep itself, not a shell that would outlive it.
    const job = fx.job({ walltimeSec: 120, arguments: ["-c", `echo $$ > ${pidFile}; exec sleep 120`] });
    await real.enqueue(job);
    const run = runPilot(fx.pilotOptions({ token: await real.token(5), heartbeatSec, killGraceMs: 200 }));

    await vi.waitFor(() => expect(existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "").toBe(true), { timeout: 20_000, interval: 50 });
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    expect(alive(pid)).toBe(true);
    // No job-state agent here: the record stays where the matchmaker's claim put it.
    expect(["sent", "starting", "running"]).toContain((await real.store.getJob(job.jobId))?.state);

    // What `wms task cancel` does to a running job's record (matchmaker/intake-control.ts).
    const cancelledAt = Date.now();
    const moved = await real.store.transition(job.jobId, "cancelled", ["defined", "activated", "sent", "starting", "running"], { errorMessage: "cancelled by its owner" });
    expect(moved.moved).toBe(true);

    // One interval for the next beat, the kill grace, and slack for a loaded 2-core machine (CI runs
    // 150 files at load 20-40); a pilot that missed the cancel would let the payload sleep its 120 s.
    await vi.waitFor(() => expect(alive(pid)).toBe(false), { timeout: heartbeatSec * 1000 + 200 + 4000, interval: 25 });
    const killedWithinMs = Date.now() - cancelledAt;
    expect(killedWithinMs).toBeLessThan(heartbeatSec * 1000 + 4200);

    const summary = await run;
    expect(summary.results).toEqual([expect.objectContaining({ status: "failed", jobId: job.jobId, code: ERR.PAYLOAD_CANCELLED })]);
    const failed = (await fx.reports.waitFor((r: Report) => r.kind === "state" && r.jobId === job.jobId && r.state === "failed")) as StateReport;
    expect(failed.errorCode).toBe(ERR.PAYLOAD_CANCELLED);
    // The holding beats the pilot sends after the kill do not move the job out of `cancelled`.
    expect((await real.store.getJob(job.jobId))?.state).toBe("cancelled");
  }, 60_000);
});
