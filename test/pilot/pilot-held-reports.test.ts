// The last line of defence for reports: RabbitMQ unreachable AND the spool unwritable. The pilot
// keeps the reports in memory, takes no new job, and lets nothing go before RabbitMQ confirms them.
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Report, StateReport } from "../../schemas/index.ts";
import { runPilot } from "../../agents/pilot/index.ts";
import type { CensusSnapshot } from "../../agents/pilot/pilot-ports.ts";
import { pilotFixture, type PilotFixture } from "./support/pilot-fixture.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";

let fx: PilotFixture;
let proxy: TcpProxy;
beforeAll(async () => {
  fx = await pilotFixture("pilotheld");
  const u = new URL(fx.rabbitUrl);
  proxy = await startTcpProxy(u.hostname, Number(u.port || 5672));
});
afterAll(async () => {
  await fx?.close();
  await proxy?.stop();
});

describe("pilot with RabbitMQ away and its spool unwritable", () => {
  it("holds the reports in memory, takes no new job, and delivers them when RabbitMQ returns", async () => {
    const mm = fx.matchmaker;
    if (!mm) throw new Error("fixture without the stand-in matchmaker");
    const u = new URL(fx.rabbitUrl);
    u.port = String(proxy.port);
    const spoolDir = path.join(fx.root, "held-spool");
    const publisher = fx.publisher({ url: u.toString(), spoolDir });
    // RabbitMQ gone (nothing listens on the proxy's port), and the spool folder replaced by a file:
    // every write into it fails with ENOTDIR, even for root.
    await proxy.stop();
    rmSync(spoolDir, { recursive: true, force: true });
    writeFileSync(spoolDir, "not a folder");

    const first = fx.job({ arguments: ["-c", 'echo one > "$WMS_OUTPUT_DIR/r.txt"'] });
    const second = fx.job({ arguments: ["-c", 'echo two > "$WMS_OUTPUT_DIR/r.txt"'] });
    fx.offer(first);
    fx.offer(second);
    const isState = (jobId: string, state: string) => (r: Report): r is StateReport => r.kind === "state" && r.jobId === jobId && r.state === state;

    let settled = false;
    const census: CensusSnapshot[] = [];
    const run = runPilot(fx.pilotOptions({ reports: publisher, heartbeatSec: 0.2, census: (c) => census.push(c) })).finally(() => {
      settled = true;
    });
    // The first job's final report is among those held: its stage-out is done, nothing more to send but reports.
    await vi.waitFor(() => expect(publisher.heldCount()).toBeGreaterThanOrEqual(3), { timeout: 20_000, interval: 50 });
    const advertsWhileHeld = mm.adverts.length;
    // A window of several heartbeats and back-offs (0.05 s) in which an unblocked pilot would advertise again.
    await new Promise((r) => setTimeout(r, 1500));
    expect(publisher.heldCount()).toBeGreaterThan(0);
    expect(mm.adverts.length).toBe(advertsWhileHeld);
    expect(mm.lockTokens.has(second.jobId)).toBe(false);
    expect(settled).toBe(false);
    expect(fx.reports.reports.some(isState(first.jobId, "finished"))).toBe(false);
    // Its census says why it waits: busy, with the reports it holds.
    expect(census.at(-1)).toMatchObject({ state: "running", heldReports: publisher.heldCount() });

    await proxy.start();
    await fx.reports.waitFor(isState(first.jobId, "finished"), 30_000);
    const summary = await run;
    // Unblocked, it took the second job; it exited only with nothing left in memory.
    expect(summary.jobsDone).toBe(2);
    expect(publisher.heldCount()).toBe(0);
    expect(census.at(-1)).toMatchObject({ state: "exited", heldReports: 0 });
    await fx.reports.waitFor(isState(second.jobId, "finished"), 30_000);
    expect(fx.reports.reports.filter(isState(first.jobId, "finished"))).toHaveLength(1);
  }, 90_000);
});
