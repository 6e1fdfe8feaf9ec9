// The job-state agent dies for longer than a lease while pilots keep running jobs. Their reports
// wait in RabbitMQ; their heartbeats still reach the matchmaker, so a job whose payload ended waits
// in holding, which lease expiry never requeues. When a new agent starts, every report is applied:
// no job is lost, no finished payload ran twice, and the counters equal the job records.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Reconciler, type JobState } from "../../jobs/index.ts";
import { SCHEMA_VERSION, type JobSpec } from "../../schemas/index.ts";
import { startPilotStage, type PilotStage } from "../support/pilot-stage.ts";
import { REPO_ROOT, WMS_BIN } from "../support/run-cli.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Agents Down";
const SITE = "AGENTS_DOWN";
const LEASE_SEC = 4;
const JOBS = 300;
const PILOTS = 4;

let stage: PilotStage;
let log: string;
const pilots: ChildProcess[] = [];

beforeAll(async () => {
  stage = await startPilotStage({
    label: "agentsdown",
    site: SITE,
    userDn: USER_DN,
    config: { jobs: { heartbeatSec: 0.5, leaseSec: LEASE_SEC, leaseCheckSec: 0.5 }, matchmaker: { nomatchBackoffSec: 0.2 } },
  });
  log = join(stage.root, "executions.log");
});

afterAll(async () => {
  for (const p of pilots) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(-p.pid, "SIGKILL");
  await stage?.stop();
});

async function startPilot(pilotId: string): Promise<ChildProcess> {
  const token = await stage.token(1000);
  const child = spawn(process.execPath, [WMS_BIN, "pilot", "--site", SITE, "--work-dir", stage.workdir, "--pilot-id", pilotId, "--max-empty", "20", "--max-backoff", "0.2", "--json"], {
    cwd: REPO_ROOT,
    env: { ...process.env, WMS_CONFIG: stage.configFile, WMS_NAMESPACE: undefined, WMS_PILOT_TOKEN: token },
    stdio: ["ignore", "ignore", "ignore"],
    detached: true,
  });
  pilots.push(child);
  return child;
}

function executions(): Map<string, number> {
  const n = new Map<string, number>();
  if (!existsSync(log)) return n;
  for (const line of readFileSync(log, "utf8").split("\n")) {
    const id = line.split(" ")[0];
    if (id) n.set(id, (n.get(id) ?? 0) + 1);
  }
  return n;
}

describe("the job-state agent down for longer than a lease", () => {
  it("loses no job and runs no finished payload twice; counters equal the records", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    const jobs: JobSpec[] = Array.from({ length: JOBS }, (_, i) => ({
      schemaVersion: SCHEMA_VERSION,
      jobId: `${taskId}.${i}`,
      taskId,
      taskName: "agentsdown.task",
      kind: "analysis",
      vo: "pilot-wms",
      group: "",
      userDn: USER_DN,
      priority: 0,
      site: SITE,
      executable: "/bin/sh",
      // One line per execution: the test counts how often each payload ran.
      arguments: ["-c", 'echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"'],
      environment: { LOG: log },
      requirements: "true",
      rank: "0",
      cores: 1,
      memoryMb: 100,
      walltimeSec: 120,
      inputFiles: [],
      outputDataset: "user.agentsdown.out",
      attempt: 1,
      maxAttempts: 3,
    }));
    await stage.enqueueMany(jobs);
    for (let i = 0; i < PILOTS; i++) await startPilot(`pilot-${i}`);

    // Some jobs done, then the agent dies while the pilots go on.
    await expect.poll(() => executions().size, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(30);
    await stage.stopAgents();
    const downAt = Date.now();
    await expect.poll(() => executions().size, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(90);
    const waited = Date.now() - downAt;
    if (waited < (LEASE_SEC + 2) * 1000) await new Promise((r) => setTimeout(r, (LEASE_SEC + 2) * 1000 - waited));
    // No report was applied meanwhile: the payloads that ended wait in holding, none was requeued.
    const counts = await stage.store.taskCounts(taskId);
    expect(counts.holding + counts.transferring).toBeGreaterThan(0);
    await stage.startAgents();

    await expect.poll(async () => (await stage.store.taskCounts(taskId)).finished, { timeout: 150_000, interval: 500 }).toBe(JOBS);
    const ran = executions();
    expect(ran.size).toBe(JOBS);
    expect([...ran.entries()].filter(([, n]) => n > 1)).toEqual([]);
    const records = await stage.store.listJobs(taskId);
    expect(records.filter((r) => r.state !== "finished")).toEqual([]);
    // Each job ran once, so none needed a second attempt.
    expect(records.filter((r) => r.attempt !== 1).map((r) => r.jobId)).toEqual([]);
    const final = await stage.store.taskCounts(taskId);
    const byState = (c: Record<JobState, number>) => Object.fromEntries(Object.entries(c).filter(([, n]) => n !== 0));
    expect(byState(final)).toEqual({ finished: JOBS });
    expect(byState(await stage.store.siteCounts(SITE))).toEqual({ finished: JOBS });
    expect(await stage.mm.dispatch.waitingCount(SITE)).toBe(0);
    expect((await stage.store.getTask(taskId))?.status).toBe("done");
    // The counters and queues agree with the records: reconciliation finds nothing to repair.
    expect((await new Reconciler(stage.store, stage.mm.dispatch, { graceMs: 0 }).run()).repairs).toEqual([]);
  }, 240_000);
});
