import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccountingRecord, Report, StateReport } from "../../schemas/index.ts";
import { runPilot } from "../../agents/pilot/index.ts";
import { pilotFixture, type PilotFixture } from "./support/pilot-fixture.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";

let fx: PilotFixture;
let proxy: TcpProxy;
beforeAll(async () => {
  fx = await pilotFixture("pilotspool");
  const u = new URL(fx.rabbitUrl);
  proxy = await startTcpProxy(u.hostname, Number(u.port || 5672));
});
afterAll(async () => {
  await fx?.close();
  await proxy?.stop();
});

describe("pilot reports when RabbitMQ goes away mid-run", () => {
  it("spools the reports it cannot deliver, stays until RabbitMQ returns, and delivers them", { timeout: 60_000 }, async () => {
    const u = new URL(fx.rabbitUrl);
    u.port = String(proxy.port);
    const publisher = fx.publisher({ url: u.toString() });
    const job = fx.job({ arguments: ["-c", 'sleep 1.5; echo done > "$WMS_OUTPUT_DIR/r.txt"'] });
    fx.offer(job);
    const isState = (state: string) => (r: Report): r is StateReport => r.kind === "state" && r.jobId === job.jobId && r.state === state;

    const run = runPilot(fx.pilotOptions({ reports: publisher }));
    let ended = false;
    void run.finally(() => (ended = true));
    // RabbitMQ vanishes while the payload runs.
    await fx.reports.waitFor(isState("running"));
    await proxy.stop();
    // The payload ends; its final reports go to the spool, and the pilot, out of jobs, stays while
    // its node's spool holds reports (it would strand them otherwise) instead of leaving.
    const deadline = Date.now() + 20_000;
    while (publisher.spooledCount() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(publisher.spooledCount()).toBeGreaterThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 1500));
    expect(ended, "the pilot left while its reports were only in the spool").toBe(false);
    expect(fx.reports.reports.some(isState("finished"))).toBe(false);

    await proxy.start();
    const summary = await run;
    expect(summary.jobsDone).toBe(1);
    expect(await publisher.flush(20_000)).toBe(true);
    const finished = await fx.reports.waitFor(isState("finished"));
    expect(finished.outputs?.[0].lfn).toBe(`${job.outputDataset}/${job.jobId}/r.txt`);
    const acct = (await fx.reports.waitFor((r) => r.kind === "accounting" && r.jobId === job.jobId)) as AccountingRecord;
    expect(acct.exitCode).toBe(0);
    expect(publisher.spooledCount()).toBe(0);
  });
});
