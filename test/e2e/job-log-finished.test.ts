// `wms job log` of a job that finished, run by a real `wms pilot` process with the real matchmaker,
// credential cache and job-state and job-log agents: the pilot-log part of the attempt is what the
// pilot logged for that attempt, which for a job that succeeded used to be nothing at all ("(empty)").
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobLogStore } from "../../agents/job-logs/index.ts";
import { startPilotStage, type PilotStage } from "../support/pilot-stage.ts";
import { runCli } from "../support/run-cli.ts";
import { roleEnv, serviceUrlEnv } from "../support/test-roles.ts";

let stage: PilotStage;

beforeAll(async () => {
  stage = await startPilotStage({
    label: "joblogok",
    site: "LOG_SITE",
    userDn: "/DC=org/DC=pilot-wms/OU=People/CN=Job Log Reader",
    pilotMaxEmpty: 1,
    jobLogs: true,
    config: { matchmaker: { nomatchBackoffSec: 0.2 } },
  });
});

afterAll(async () => {
  await stage?.stop();
});

describe("wms job log of a job that finished", () => {
  it("shows the pilot's log of the attempt: inputs, the payload's start and end, its outputs", async () => {
    const job = stage.shellJob({ taskId: `t${randomBytes(4).toString("hex")}`, name: "logged", script: 'echo "all good"; echo ok > "$WMS_OUTPUT_DIR/out.txt"' });
    await stage.enqueue(job);
    await stage.spawnPilot("pilot-logged");
    await expect.poll(async () => (await stage.store.getJob(job.jobId))?.state, { timeout: 60_000, interval: 200 }).toBe("finished");
    await expect.poll(() => new JobLogStore(stage.redis, stage.loaded.names).attempts(job.jobId), { timeout: 30_000, interval: 200 }).toEqual([1]);

    const r = await runCli(["job", "log", job.jobId], { env: { WMS_CONFIG: stage.configFile, ...serviceUrlEnv(), ...roleEnv("operator") } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^job ${job.jobId.replace(/\./g, "\\.")} .*attempt 1 at LOG_SITE by pilot pilot-logged: ok`));
    expect(r.stdout).toContain("--- payload stdout ---\nall good\n");
    const pilotLog = r.stdout.slice(r.stdout.indexOf("--- pilot log ---\n") + "--- pilot log ---\n".length).trimEnd().split("\n");
    expect(pilotLog).not.toEqual(["(empty)"]);
    expect(pilotLog).toEqual([
      expect.stringMatching(/ INFO inputs staged in .*inputs=0/),
      expect.stringMatching(/ INFO payload started .*payloadPid=\d+/),
      expect.stringMatching(/ INFO payload ended .*exitCode=0 /),
      expect.stringMatching(/ INFO outputs staged out .*outputs=1/),
    ]);
  }, 120_000);
});
