import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "../../platform/redis-client.ts";
import { pino } from "pino";
import { runPilot } from "../../agents/pilot/index.ts";
import { AttemptReportSigner } from "../../agents/pilot/attempt-report-signer.ts";
import { JobStore } from "../../jobs/index.ts";
import { recordClaimedJob, testReportKeySeals } from "../reports/support/job-fixture.ts";
import { startAgents, type AgentsHandle } from "../../agents/job-state/start-agents.ts";
import { JobLogStore } from "../../agents/job-logs/index.ts";
import { loadConfig } from "../../platform/config.ts";
import { openRedis } from "../../platform/connections.ts";
import { ERR, LOG_TAIL_BYTES, LogReport, type Report } from "../../schemas/index.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { runCli } from "../support/run-cli.ts";
import { pilotFixture, type PilotFixture } from "./support/pilot-fixture.ts";
import { asRole, roleEnv } from "../support/test-roles.ts";

let fx: PilotFixture;
/** `wms job log` is a user's or operator's command. */
const operator = { env: roleEnv("operator") };
let redis: RedisClient;
let agents: AgentsHandle | undefined;

beforeAll(async () => {
  fx = await pilotFixture("joblog");
  // The log agent's side (agents role): it stores the logs the CLI reads.
  redis = openRedis(asRole(loadConfig({ path: undefined, env: { ...(process.env as Record<string, string>), WMS_CONFIG: undefined } }), "agents").config);
});

afterAll(async () => {
  await agents?.stop();
  if (fx) await deleteNamespaceKeys(redis, fx.names.namespace);
  redis.disconnect();
  await fx?.close();
});

const isLog = (jobId: string) => (r: Report): r is LogReport => r.kind === "log" && r.jobId === jobId;

describe("job logs you can read", () => {
  it("wms job log prints the stderr tail of a payload that failed, its code and the pilot's own log of that attempt", async () => {
    // ~90 KB of stderr: only the last 64 KB travels, ending with the line that says what went wrong.
    // A job id of the jobs core's form (<taskId>.<index>): its claim is recorded in the job store below.
    const taskId = `T${Date.now().toString(36)}`;
    const job = fx.job({
      jobId: `${taskId}.0`,
      taskId,
      arguments: ["-c", 'echo "reading config"; i=0; while [ $i -lt 6000 ]; do echo "noise line $i" >&2; i=$((i+1)); done; echo "FATAL: calibration db unreachable" >&2; exit 2'],
    });
    fx.offer(job);
    // The pilot's reports go out signed with this signer's key (which the stand-in matchmaker does
    // not record): the job's claim is written below with it, as the real matchmaker's would be.
    const signer = new AttemptReportSigner(fx.publisher());
    const summary = await runPilot(fx.pilotOptions({ memoryPollMs: 100, killGraceMs: 500, reports: signer }));
    expect(summary.results).toEqual([expect.objectContaining({ status: "failed", code: ERR.PAYLOAD_FAILED })]);
    const sent = await fx.reports.waitFor(isLog(job.jobId));
    expect(LogReport.problems(sent)).toBeUndefined();
    expect(sent.truncated).toEqual({ stdout: false, stderr: true, pilotLog: false });
    expect(Buffer.byteLength(sent.stderr)).toBeLessThanOrEqual(LOG_TAIL_BYTES);
    expect(sent.stderr).not.toContain("noise line 0\n");
    expect(sent.stderr.trimEnd().endsWith("FATAL: calibration db unreachable")).toBe(true);
    expect(sent.stdout).toBe("reading config\n");
    expect(sent.errorCode).toBe(ERR.PAYLOAD_FAILED);
    expect(sent.pilotLog).toContain("The payload exited with a non-zero code: 2");

    // The log agent stores it; the CLI prints it.
    const { config, names } = asRole(loadConfig({ path: undefined, env: { ...(process.env as Record<string, string>), WMS_CONFIG: undefined, WMS_NAMESPACE: fx.names.namespace } }), "agents");
    await recordClaimedJob(new JobStore(redis, names), { spec: job, pilotId: sent.pilotId, lockToken: sent.lockToken ?? "", reportKey: signer.publicKey });
    agents = await startAgents({ config, names, redis, logger: pino({ level: "silent" }), only: ["logs"], reportKeySealKeys: testReportKeySeals });
    const store = new JobLogStore(redis, names);
    await expect.poll(() => store.attempts(job.jobId), { timeout: 15_000 }).toEqual([1]);
    const ttl = await redis.ttl(store.attemptKey(job.jobId, 1));
    expect(ttl).toBeGreaterThan(6 * 24 * 3600);

    const r = await runCli(["--namespace", names.namespace, "job", "log", job.jobId], operator);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^job ${job.jobId} .*attempt 1 .*E${ERR.PAYLOAD_FAILED} PAYLOAD_FAILED`));
    expect(r.stdout).toContain("--- payload stderr (last 64 KB) ---");
    expect(r.stdout).toContain("noise line 5999\nFATAL: calibration db unreachable\n--- payload stdout ---\nreading config\n--- pilot log ---");
    expect(r.stdout).toMatch(/WARN .*The payload exited with a non-zero code: 2 {2}jobId=/);

    const [missing, badAttempt] = await Promise.all([
      runCli(["--namespace", names.namespace, "job", "log", "no-such-job"], operator),
      runCli(["--namespace", names.namespace, "job", "log", job.jobId, "--attempt", "3"], operator),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^wms: error E1005 NOT_FOUND: .*no logs for job no-such-job/);
    expect(badAttempt.code).toBe(1);
    expect(badAttempt.stderr).toMatch(/attempts with logs: 1\n$/);
  }, 90_000);
});
