import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ERR, type AccountingRecord, type AuditRecord, type ErrorReport, type JobSpec, type Report, type StateReport } from "../../schemas/index.ts";
import { runPilot, type PilotOptions } from "../../agents/pilot/index.ts";
import { encryptKeysToPilot, encryptToPilot, generatePilotKeyPair } from "../../security/index.ts";
import { pilotFixture, USER_DN, type PilotFixture } from "./support/pilot-fixture.ts";

let fx: PilotFixture;
beforeAll(async () => {
  fx = await pilotFixture("pilotrun");
});
afterAll(async () => {
  await fx?.close();
});

const isState = (jobId: string, state: string) => (r: Report): r is StateReport => r.kind === "state" && r.jobId === jobId && r.state === state;
const isError = (pred: (r: ErrorReport) => boolean) => (r: Report): r is ErrorReport => r.kind === "error" && pred(r);

function pilotOptions(over: Partial<PilotOptions> = {}): PilotOptions {
  return fx.pilotOptions({ memoryPollMs: 100, killGraceMs: 500, ...over });
}

describe("pilot end to end", () => {
  it("runs a real payload: stage-in with checksums, compute, stage-out, reports in RabbitMQ", async () => {
    const numbers = Array.from({ length: 2 }, () => Array.from({ length: 50 }, () => Math.floor(Math.random() * 1000)));
    const inputs = await fx.catalog({ "data.raw/part1.txt": numbers[0].join("\n") + "\n", "data.raw/part2.txt": numbers[1].join("\n") + "\n" });
    const job = fx.job({
      inputFiles: inputs,
      arguments: [
        "-c",
        'sleep 0.3; awk \'{s+=$1} END {print s}\' $WMS_INPUTS > "$WMS_OUTPUT_DIR/sum.txt" && head -1 "$X509_USER_PROXY" > "$WMS_OUTPUT_DIR/proxy-head.txt" && echo "$X509_USER_PROXY" > "$WMS_OUTPUT_DIR/proxy-path.txt"',
      ],
    });
    fx.offer(job);
    const summary = await runPilot(pilotOptions());
    expect(summary.results).toEqual([expect.objectContaining({ status: "finished" })]);
    expect(summary.exitReason).toBe("empty");

    const expected = numbers.flat().reduce((a, b) => a + b, 0);
    const outDir = path.join(fx.storage, job.outputDataset, job.jobId);
    expect(Number(readFileSync(path.join(outDir, "sum.txt"), "utf8"))).toBe(expected);
    expect(readFileSync(path.join(outDir, "proxy-head.txt"), "utf8")).toContain("BEGIN CERTIFICATE");
    // The proxy the payload saw is gone, with its job dir.
    expect(existsSync(readFileSync(path.join(outDir, "proxy-path.txt"), "utf8").trim())).toBe(false);

    const finished = await fx.reports.waitFor(isState(job.jobId, "finished"));
    expect(finished.lockToken).toBe(fx.matchmaker.lockTokens.get(job.jobId));
    expect(finished.attempt).toBe(1);
    expect(finished.outputs?.map((o) => o.lfn).sort()).toEqual(["proxy-head.txt", "proxy-path.txt", "sum.txt"].map((f) => `${job.outputDataset}/${job.jobId}/${f}`));
    await fx.reports.waitFor(isState(job.jobId, "starting"));
    await fx.reports.waitFor(isState(job.jobId, "running"));
    const acct = (await fx.reports.waitFor((r) => r.kind === "accounting" && r.jobId === job.jobId)) as AccountingRecord;
    expect(acct.userDn).toBe(USER_DN);
    expect(acct.exitCode).toBe(0);
    expect(acct.maxRssKb).toBeGreaterThan(0);
    expect(acct.endedAt).toBeGreaterThanOrEqual(acct.startedAt);
    const audit = (await fx.reports.waitFor((r) => r.kind === "audit" && r.jobId === job.jobId)) as AuditRecord;
    expect(audit.event).toBe("credential-retrieval");
    expect(fx.credentials.retrieved.map((r) => r.jobId)).toContain(job.jobId);
    // The advert carried a machine ad for this site and the pilot's own Requirements.
    expect(fx.matchmaker.adverts[0].classad).toContain('Site = "SITE_T"');
    expect(fx.matchmaker.heartbeats.some((h) => h.jobId === job.jobId)).toBe(true);
    // Adverts and heartbeats go on the site's own subjects, which matchmakers can be split by.
    expect(fx.matchmaker.batches.find((b) => b.batch.jobs.some((j) => j.jobId === job.jobId))?.subject).toBe(fx.names.heartbeatFor("SITE_T"));
  });

  /**
   * Offers a job whose payload would leave `<name>-ran` behind, sent as `offer` sends it, and runs a
   * pilot that must refuse it before anything runs: one envelope rejected, no payload, no credential
   * retrieved, no state report, and an E1102 error report carrying SEC_BAD_SIGNATURE, returned.
   */
  async function expectRefused(name: string, offer: (marker: string) => Parameters<PilotFixture["offer"]>[1]): Promise<{ job: JobSpec; err: ErrorReport }> {
    const marker = path.join(fx.root, `${name}-ran`);
    const job = fx.job({ arguments: ["-c", `touch ${marker}`] });
    fx.offer(job, offer(marker));
    const summary = await runPilot(pilotOptions());
    expect(summary.envelopesRejected).toBe(1);
    expect(summary.jobsDone + summary.jobsFailed).toBe(0);
    expect(existsSync(marker)).toBe(false);
    const err = await fx.reports.waitFor(isError((r) => r.pilotId === summary.pilotId));
    expect(err.code).toBe(ERR.PILOT_ENVELOPE_REJECTED);
    expect(err.message).toContain(`E${ERR.SEC_BAD_SIGNATURE}`);
    expect(fx.credentials.retrieved.map((r) => r.jobId)).not.toContain(job.jobId);
    expect(fx.reports.reports.some((r) => r.kind === "state" && r.jobId === job.jobId)).toBe(false);
    return { job, err };
  }

  it("runs nothing from a tampered envelope and reports the security code", async () => {
    const { err } = await expectRefused("tampered", (marker) => ({
      tamper: (env) => {
        const body = JSON.parse(env.body) as { job: { arguments: string[] } };
        body.job.arguments = ["-c", `touch ${marker}; echo owned > "$WMS_OUTPUT_DIR/x"`];
        return { ...env, body: JSON.stringify(body) };
      },
    }));
    // Nothing in a body whose signature fails is believed, its job id included.
    expect(err.jobId).toBeUndefined();
  });

  it("runs nothing when the attempt's keys do not open with its key or are not both there, and reports 1102 for the job", async () => {
    const other = generatePilotKeyPair();
    // Encrypted to another pilot: this one cannot learn the proxy key or the heartbeat key.
    const foreign = await expectRefused("keys-other", () => ({ encryptedKeys: (_advertKey, proxyKey) => encryptKeysToPilot(other.publicKeyPem, { proxyKey, heartbeatKey: "test.hb" }) }));
    expect(foreign.err.jobId).toBe(foreign.job.jobId);
    // Opens, but holds the proxy key alone: no heartbeat key, so no heartbeat could renew the lease.
    const one = await expectRefused("keys-one", () => ({ encryptedKeys: (advertKey, proxyKey) => encryptToPilot(advertKey, proxyKey) }));
    expect(one.err.jobId).toBe(one.job.jobId);
  });

  it("refuses an input whose checksum differs from the catalog and never starts the payload", async () => {
    const marker = path.join(fx.root, "badinput-ran");
    const [file] = await fx.catalog({ "data.raw/bad.txt": "123\n" });
    const job = fx.job({ inputFiles: [{ ...file, adler32: "0badf00d" }], arguments: ["-c", `touch ${marker}`] });
    fx.offer(job);
    const summary = await runPilot(pilotOptions());
    expect(summary.jobsFailed).toBe(1);
    expect(existsSync(marker)).toBe(false);
    const failed = await fx.reports.waitFor(isState(job.jobId, "failed"));
    expect(failed.errorCode).toBe(ERR.STAGEIN_CHECKSUM_MISMATCH);
    const err = await fx.reports.waitFor(isError((r) => r.jobId === job.jobId));
    expect(err.code).toBe(ERR.STAGEIN_CHECKSUM_MISMATCH);
    expect(fx.reports.reports.some((r) => r.kind === "accounting" && r.jobId === job.jobId)).toBe(false);
  });

  it("kills a payload over its walltime, reports the code and deletes the credentials", async () => {
    const seen = path.join(fx.root, "walltime-proxy-path");
    const job = fx.job({ walltimeSec: 1, arguments: ["-c", `echo "$X509_USER_PROXY" > ${seen}; sleep 30`] });
    fx.offer(job);
    const summary = await runPilot(pilotOptions());
    expect(summary.jobsFailed).toBe(1);
    const failed = await fx.reports.waitFor(isState(job.jobId, "failed"));
    expect(failed.errorCode).toBe(ERR.PAYLOAD_WALLTIME_EXCEEDED);
    const proxyPath = readFileSync(seen, "utf8").trim();
    expect(proxyPath).toContain(job.jobId);
    expect(existsSync(proxyPath)).toBe(false);
    const acct = (await fx.reports.waitFor((r) => r.kind === "accounting" && r.jobId === job.jobId)) as AccountingRecord;
    expect(acct.exitCode).toBe(-1);
  });

  it("kills the payload when a heartbeat reply says the job was cancelled", async () => {
    const job = fx.job({ arguments: ["-c", "sleep 30"] });
    fx.offer(job, { cancelAtBeat: 2 });
    const summary = await runPilot(pilotOptions());
    expect(summary.jobsFailed).toBe(1);
    const failed = await fx.reports.waitFor(isState(job.jobId, "failed"));
    expect(failed.errorCode).toBe(ERR.PAYLOAD_CANCELLED);
  });

  it("renews the user's proxy while a long payload runs", async () => {
    const job = fx.job({ arguments: ["-c", 'stat -c "%i %y" "$X509_USER_PROXY" > "$WMS_OUTPUT_DIR/before"; sleep 2.2; stat -c "%i %y" "$X509_USER_PROXY" > "$WMS_OUTPUT_DIR/after"'] });
    fx.offer(job);
    // A margin as long as the proxy's life: renewal is due at once, then every second.
    const summary = await runPilot(pilotOptions({ renewMarginSec: 4000 }));
    expect(summary.jobsDone).toBe(1);
    const read = (f: string): string => readFileSync(path.join(fx.storage, job.outputDataset, job.jobId, f), "utf8").trim();
    // The proxy file was replaced (write-then-rename) while the payload ran: a newer file, whatever inode it got.
    expect(read("after")).not.toBe(read("before"));
    expect(fx.credentials.renewed.filter((r) => r.jobId === job.jobId).length).toBeGreaterThanOrEqual(1);
  });

  it("on SIGTERM kills the payload, deletes the credentials, reports PILOT_PREEMPTED and exits", async () => {
    const seen = path.join(fx.root, "sigterm-proxy-path");
    const job = fx.job({ arguments: ["-c", `echo "$X509_USER_PROXY" > ${seen}; sleep 30`] });
    fx.offer(job);
    const ac = new AbortController();
    const run = runPilot(pilotOptions({ signal: ac.signal, maxEmpty: 5 }));
    await fx.reports.waitFor(isState(job.jobId, "running"));
    // The payload has started once it wrote where its proxy is.
    await vi.waitFor(() => expect(existsSync(seen)).toBe(true), { timeout: 10_000, interval: 25 });
    ac.abort();
    const summary = await run;
    expect(summary.exitReason).toBe("stopped");
    const failed = await fx.reports.waitFor(isState(job.jobId, "failed"));
    expect(failed.errorCode).toBe(ERR.PILOT_PREEMPTED);
    const acct = (await fx.reports.waitFor((r) => r.kind === "accounting" && r.jobId === job.jobId)) as AccountingRecord;
    expect(acct.preempted).toBe(true);
    expect(existsSync(readFileSync(seen, "utf8").trim())).toBe(false);
    expect(existsSync(path.join(fx.workdir, summary.pilotId))).toBe(false);
  });

  it("stops the payload just before the slot's walltime ends, reports PILOT_PREEMPTED and exits for walltime", async () => {
    const job = fx.job({ walltimeSec: 600, arguments: ["-c", "sleep 30"] });
    fx.offer(job);
    const started = Date.now();
    const summary = await runPilot(pilotOptions({ walltimeSec: 4, minWalltimeSec: 1, killGraceMs: 200 }));
    expect(summary.exitReason).toBe("walltime");
    const failed = await fx.reports.waitFor(isState(job.jobId, "failed"));
    expect(failed.errorCode).toBe(ERR.PILOT_PREEMPTED);
    // The slot ends 4 s after the pilot started (at `started` or later), and the payload, which would
    // sleep 30 s, is gone before then: read from when the pilot says it ended, not from when the
    // pilot got round to exiting (reports, credentials, clean-up), which on a loaded CI machine took
    // seconds more. Had the pilot's own start run past its stop time, no payload starts at all.
    if (!/before the payload started/.test(failed.message ?? "")) {
      const acct = (await fx.reports.waitFor((r) => r.kind === "accounting" && r.jobId === job.jobId)) as AccountingRecord;
      expect(acct.preempted).toBe(true);
      expect(acct.endedAt).toBeLessThan(started + 4000);
    }
  });

  it("kills a payload over its memory with PAYLOAD_MEMORY_EXCEEDED", async () => {
    const job = fx.job({ memoryMb: 64, arguments: ["-c", `${process.execPath} -e "const b=Buffer.alloc(200*1024*1024,1);setInterval(()=>b[0]++,100)"`] });
    fx.offer(job);
    await runPilot(pilotOptions());
    const failed = await fx.reports.waitFor(isState(job.jobId, "failed"));
    expect(failed.errorCode).toBe(ERR.PAYLOAD_MEMORY_EXCEEDED);
    const acct = (await fx.reports.waitFor((r) => r.kind === "accounting" && r.jobId === job.jobId)) as AccountingRecord;
    expect(acct.maxRssKb).toBeGreaterThan(64 * 1024);
  });

  it("fails a job whose payload wrote no output with STAGEOUT_NO_OUTPUT", async () => {
    const job = fx.job({ arguments: ["-c", "true"] });
    fx.offer(job);
    await runPilot(pilotOptions());
    const failed = await fx.reports.waitFor(isState(job.jobId, "failed"));
    expect(failed.errorCode).toBe(ERR.STAGEOUT_NO_OUTPUT);
  });

  it("fails a payload that exits non-zero with PAYLOAD_FAILED, saying the exit code once, and sends no outputs", async () => {
    const job = fx.job({ arguments: ["-c", 'echo partial > "$WMS_OUTPUT_DIR/p.txt"; exit 7'] });
    fx.offer(job);
    await runPilot(pilotOptions());
    const failed = await fx.reports.waitFor(isState(job.jobId, "failed"));
    expect(failed.errorCode).toBe(ERR.PAYLOAD_FAILED);
    // What `wms task status` and `wms job show` print after the code: the registry's sentence once, then the exit code.
    expect(failed.message).toBe("The payload exited with a non-zero code: 7");
    expect(existsSync(path.join(fx.storage, job.outputDataset, job.jobId))).toBe(false);
  });

  it("runs jobs one after another and exits after max-empty adverts in a row", async () => {
    const a = fx.job({});
    const b = fx.job({});
    fx.offer(a);
    fx.offer(b);
    const before = fx.matchmaker.adverts.length;
    const summary = await runPilot(pilotOptions({ maxEmpty: 3 }));
    expect(summary.jobsDone).toBe(2);
    expect(summary.emptyAdverts).toBe(3);
    expect(summary.adverts).toBe(5);
    expect(fx.matchmaker.adverts.length - before).toBe(5);
    // The second job came in an envelope naming the signer pair the pilot verified with the first.
    const ours = fx.matchmaker.adverts.slice(before);
    expect(ours[0].knownSigner).toBeUndefined();
    expect(ours[1].knownSigner).toMatch(/^[0-9a-f]{64}$/);
    // Its private dir, token included, is gone.
    expect(existsSync(path.join(fx.workdir, summary.pilotId))).toBe(false);
  });
});
