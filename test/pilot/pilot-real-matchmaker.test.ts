// The pilot against the real services around it: the matchmaker service (BullMQ queues, pilot
// tokens, one-time keys minted at match time, signed envelopes, heartbeats) and the credential cache.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report, StateReport } from "../../schemas/index.ts";
import { runPilot } from "../../agents/pilot/index.ts";
import { pilotFixture, type PilotFixture } from "./support/pilot-fixture.ts";

let fx: PilotFixture;
beforeAll(async () => {
  fx = await pilotFixture("pilotrealmm", {}, { matchmaker: "real" });
});
afterAll(async () => {
  await fx?.close();
});

describe("pilot with the real matchmaker and credential cache", () => {
  it("gets a job for its site, runs it with the user's proxy, and exits when the queue is empty", async () => {
    const real = fx.real;
    if (!real) throw new Error("fixture without the real matchmaker");
    const [input] = await fx.catalog({ "data.raw/words.txt": "one two three\nfour five\n" });
    const job = fx.job({
      inputFiles: [input],
      walltimeSec: 120,
      arguments: ["-c", 'sleep 0.5; wc -w < $WMS_INPUTS > "$WMS_OUTPUT_DIR/count.txt"; test -s "$X509_USER_PROXY"'],
    });
    await real.enqueue(job);
    const summary = await runPilot(fx.pilotOptions({ token: await real.token(5), heartbeatSec: 0.2 }));
    expect(summary.results).toEqual([expect.objectContaining({ status: "finished", jobId: job.jobId })]);
    expect(readFileSync(path.join(fx.storage, job.outputDataset, job.jobId, "count.txt"), "utf8").trim()).toBe("5");
    const finished = (await fx.reports.waitFor((r: Report) => r.kind === "state" && r.jobId === job.jobId && r.state === "finished")) as StateReport;
    // The lock token in the report is the one the real matchmaker issued with the claim.
    expect(finished.lockToken).toBeTruthy();
    const record = await real.store.getJob(job.jobId);
    expect(record?.pilotId).toBe(summary.pilotId);
    expect(fx.credentials.retrieved.map((r) => r.jobId)).toEqual([job.jobId]);
  });
});
