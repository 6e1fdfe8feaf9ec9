// Two retry rules end to end, with real `wms pilot` processes, the real matchmaker, the credential
// cache and the job-state and accounting agents: a pilot its batch system stops (SIGTERM) gives its
// job back without spending the user's retry budget, and a payload killed over its memory runs again
// asking for half as much again (the increase_memory rule) and finishes.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { quickTimings, startPilotStage, type PilotStage } from "../support/pilot-stage.ts";

let stage: PilotStage;

beforeAll(async () => {
  stage = await startPilotStage({
    label: "retries",
    site: "RETRY_SITE",
    userDn: "/DC=org/DC=pilot-wms/OU=People/CN=Retry Rules",
    config: quickTimings(6),
  });
});

afterAll(async () => {
  await stage?.stop();
});

function exited(p: ChildProcess): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => p.once("exit", (code) => resolve(code)));
}

const finished = async (jobId: string): Promise<string | undefined> => (await stage.store.getJob(jobId))?.state;

describe("retry rules with real pilots", () => {
  it("requeues the job of a pilot its batch system stopped without spending the job's only attempt", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    const marks = join(stage.root, "preempt-marks");
    mkdirSync(marks);
    // The first run waits to be preempted; a run after it ends at once.
    const job = stage.shellJob({
      taskId,
      name: "preempted",
      maxAttempts: 1,
      environment: { MARKS: marks },
      script: 'if [ ! -e "$MARKS/started" ]; then touch "$MARKS/started"; sleep 60; fi; echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"',
    });
    await stage.enqueue(job);
    const first = await stage.spawnPilot("pilot-preempted");
    await expect.poll(() => existsSync(join(marks, "started")), { timeout: 30_000, interval: 100 }).toBe(true);
    process.kill(first.pid as number, "SIGTERM");
    expect(await exited(first)).toBe(0);
    await expect.poll(async () => (await stage.store.getJob(job.jobId))?.attempt, { timeout: 20_000, interval: 200 }).toBe(2);
    expect(await stage.store.getJob(job.jobId)).toMatchObject({ state: "activated", preemptions: 1, errorCode: ERR.PILOT_PREEMPTED });

    await stage.spawnPilot("pilot-after");
    await expect.poll(() => finished(job.jobId), { timeout: 60_000, interval: 200 }).toBe("finished");
    expect(await stage.store.attempts(job.jobId)).toEqual([expect.objectContaining({ attempt: 1, pilotId: "pilot-preempted", errorCode: String(ERR.PILOT_PREEMPTED) })]);
    expect(stage.executions().get(job.jobId)).toBe(1);
  }, 120_000);

  it("runs a payload killed over its memory again with half as much memory again, and it finishes", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    // Node (~40 MB) holding 90 MB it wrote: over the 100 MB asked for, under the 150 MB of the retry.
    const hog = `"${process.execPath}" -e "const b=Buffer.alloc(90*1024*1024,1);setTimeout(()=>b[0]++,3000)"`;
    const job = stage.shellJob({
      taskId,
      name: "oom",
      maxAttempts: 2,
      memoryMb: 100,
      script: `${hog} && echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG" && echo ok > "$WMS_OUTPUT_DIR/out.txt"`,
    });
    await stage.enqueue(job);
    await stage.spawnPilot("pilot-oom");
    // Before the seal left memory out, the retry was refused by the matchmaker (1721) and the job failed.
    await expect.poll(() => finished(job.jobId), { timeout: 90_000, interval: 200 }).toBe("finished");
    const record = await stage.store.getJob(job.jobId);
    expect(record).toMatchObject({ attempt: 2 });
    expect(record?.spec.memoryMb).toBe(150);
    expect(await stage.store.attempts(job.jobId)).toEqual([expect.objectContaining({ attempt: 1, errorCode: String(ERR.PAYLOAD_MEMORY_EXCEEDED) })]);
    // The killed run never reached its log line; the retry did, once.
    expect(stage.executions().get(job.jobId)).toBe(1);
  }, 120_000);
});
