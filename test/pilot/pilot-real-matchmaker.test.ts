// The pilot against the real services around it: the matchmaker service (dispatch queues, pilot
// tokens, one-time keys minted at match time, signed envelopes, heartbeats) and the credential cache.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, type Report, type StateReport } from "../../schemas/index.ts";
import { runPilot } from "../../agents/pilot/index.ts";
import { pilotFixture, type PilotFixture } from "./support/pilot-fixture.ts";
import { roleEnv } from "../support/test-roles.ts";
import { runCli } from "../support/run-cli.ts";

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

  it("stops at the first refusal of its token or its advert and says why; `wms pilot` exits non-zero with that code", async () => {
    const forged = await runPilot(fx.pilotOptions({ token: "f".repeat(32), maxEmpty: 5 }));
    expect(forged).toMatchObject({ exitReason: "token-refused", adverts: 1, jobsDone: 0 });
    expect([ERR.MATCH_TOKEN_REJECTED, ERR.SEC_TOKEN_SPENT, ERR.SEC_TOKEN_EXPIRED]).toContain(forged.refusal?.code);
    const garbage = await runPilot(fx.pilotOptions({ token: "garbage", maxEmpty: 5 }));
    expect(garbage).toMatchObject({ exitReason: "advert-refused", adverts: 1, refusal: { code: ERR.BAD_INPUT } });

    const sitesFile = path.join(fx.root, "sites.json");
    writeFileSync(sitesFile, JSON.stringify({ schemaVersion: 1, sites: [fx.site] }));
    const r = await runCli(["pilot", "--site", fx.site.name, "--sites-file", sitesFile, "--work-dir", path.join(fx.root, "cli-pilots"), "--max-backoff", "0"], {
      env: { ...roleEnv("pilot"), WMS_PILOT_TOKEN: "garbage", WMS_NAMESPACE: fx.names.namespace, WMS_PKI_DIR: fx.pkiDir, WMS_LOG_LEVEL: "silent", WMS_CONFIG: undefined },
    });
    expect(r.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/^wms: error E1001 BAD_INPUT: /)]);
    expect(r.stdout).toMatch(/exit: advert-refused/);
    expect(r.code).toBe(1);
  }, 60_000);
});
