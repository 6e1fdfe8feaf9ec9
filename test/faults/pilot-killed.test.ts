// A worker node dies under a running job: a real `wms pilot` process is killed with SIGKILL (its
// whole process group) while its payload sleeps. Nothing tells the system; the job's lock simply
// stops being extended. The matchmaker's stalled check must put the job back on its queue with
// attempt 2, and a second `wms pilot` on the same node must run it to `finished`.
// (test/matchmaker/lost-heartbeat.test.ts kills a heartbeat-only stand-in; this one kills the real
// pilot mid-payload, with the credential cache, matchmaker and agents all real.)
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPilotStage, type PilotStage } from "../support/pilot-stage.ts";
import { REPO_ROOT, WMS_BIN } from "../support/run-cli.ts";
import { roleEnv } from "../support/test-roles.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Kill Nine";
const SITE = "KILL_SITE";
// The pilot heartbeats every second; the lease outlives several beats or a live pilot would lose it.
const LOCK_SEC = 7;

let stage: PilotStage;
let marks: string;
const pilots: ChildProcess[] = [];

beforeAll(async () => {
  stage = await startPilotStage({
    label: "kill9",
    site: SITE,
    userDn: USER_DN,
    config: { jobs: { heartbeatSec: 1, leaseSec: LOCK_SEC, leaseCheckSec: 0.5 }, matchmaker: { nomatchBackoffSec: 0.2 } },
  });
  marks = join(stage.root, "marks");
  mkdirSync(marks);
  // The stage makes a PKI and starts the cache, matchmaker and agents: up to ~30 s at a load of 45
  // on 2 cores (redis-killed's set-up and clean-up), where the default 30 s hook timeout would end
  // the file; faultRun gives the same stage 120 s.
}, 120_000);

afterAll(async () => {
  for (const p of pilots) if (p.exitCode === null && p.signalCode === null && p.pid) killGroup(p.pid);
  // A payload leads its own process group, so killing its pilot leaves it orphaned: end those too.
  if (marks && existsSync(marks)) for (const f of readdirSync(marks)) killOurPayload(Number(readFileSync(join(marks, f), "utf8").trim()));
  await stage?.stop();
}, 60_000);

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

/** Only while the pid is still one of this test's payloads (its environment names our marks dir): pids get reused. */
function killOurPayload(pid: number): void {
  try {
    if (readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`MARKS=${marks}`)) killGroup(pid);
  } catch {
    /* already gone */
  }
}

/** `wms pilot` as the factory starts it: its own process group, token in the environment. */
async function startPilot(pilotId: string): Promise<{ child: ChildProcess; output: () => string }> {
  const token = await stage.token();
  const child = spawn(process.execPath, [WMS_BIN, "pilot", "--site", SITE, "--work-dir", stage.workdir, "--pilot-id", pilotId, "--max-empty", "1", "--max-backoff", "0.2", "--json"], {
    cwd: REPO_ROOT,
    env: { ...process.env, WMS_CONFIG: stage.configFile, WMS_NAMESPACE: undefined, WMS_PILOT_TOKEN: token, ...roleEnv("pilot") },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  pilots.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

async function jobState(jobId: string): Promise<string> {
  const r = await stage.store.getJob(jobId);
  return `${r?.state}/${r?.attempt}/${r?.pilotId ?? ""}`;
}

describe("a pilot killed with SIGKILL mid-job", () => {
  it("loses only its attempt: the job returns to its queue with attempt 2 after the lock timeout and finishes on a second pilot", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    const job = stage.shellJob({
      taskId,
      name: "kill9",
      // The payload's pid names its attempt, so the test knows it started and can end an orphan.
      // The first attempt would outlive its pilot (a minute); the next pilot on the node must kill it.
      script: 'echo $$ > "$MARKS/attempt-$WMS_ATTEMPT.pid"; if [ "$WMS_ATTEMPT" = 1 ]; then sleep 60; else sleep 3; fi; echo "attempt $WMS_ATTEMPT by $WMS_PILOT_ID" > "$WMS_OUTPUT_DIR/out.txt"',
      environment: { MARKS: marks },
    });
    // Sealed as the intake seals what it queues.
    await stage.enqueue(job);

    const first = await startPilot("pilot-doomed");
    const firstMark = join(marks, "attempt-1.pid");
    await expect.poll(() => existsSync(firstMark) && readFileSync(firstMark, "utf8").trim() !== "", { timeout: 20_000, interval: 100 }).toBe(true);
    // Its running report reached the job-state agent: the job is mid-payload on this pilot.
    // (The polls wait for other processes: a pilot, the broker, the job-state agent; their bounds
    // are generous for a loaded CI machine and assert nothing about how soon.)
    await expect.poll(() => jobState(job.jobId), { timeout: 30_000, interval: 100 }).toBe("running/1/pilot-doomed");

    killGroup(first.child.pid as number);
    await exited(first.child);
    expect(first.child.signalCode).toBe("SIGKILL");

    // Nothing reports the death: the job is still the dead pilot's until its lock lapses.
    expect(await jobState(job.jobId)).toBe("running/1/pilot-doomed");
    await expect.poll(() => jobState(job.jobId), { timeout: (LOCK_SEC + 30) * 1000, interval: 100 }).toBe("activated/2/");
    // The lease check moves the record first, then puts the job back in its ready set (two writes).
    await expect.poll(() => stage.dispatch.waitingCount(SITE), { timeout: 15_000, interval: 100 }).toBe(1);

    const second = await startPilot("pilot-rescuer");
    expect(await exited(second.child)).toBe(0);
    const summary = JSON.parse(second.output().trim().split("\n").at(-1) ?? "{}") as { jobsDone?: number; results?: Array<{ jobId: string; status: string }> };
    expect(summary.jobsDone).toBe(1);
    expect(summary.results?.map((r) => `${r.jobId}:${r.status}`)).toEqual([`${job.jobId}:finished`]);
    await expect.poll(() => jobState(job.jobId), { timeout: 30_000, interval: 100 }).toBe("finished/2/pilot-rescuer");
    expect(readFileSync(join(stage.storage, job.outputDataset, job.jobId, "out.txt"), "utf8").trim()).toBe("attempt 2 by pilot-rescuer");
    expect(await stage.store.taskCounts(taskId)).toMatchObject({ finished: 1, failed: 0, sent: 0, running: 0, activated: 0 });
    expect(await stage.dispatch.waitingCount(SITE)).toBe(0);
    // The rescuer tidied up after the dead pilot: its orphaned payload is gone, and so are its
    // directory and every credential in it (the user's proxy, the pilot's token and key).
    const orphan = Number(readFileSync(firstMark, "utf8").trim());
    expect(existsSync(`/proc/${orphan}`) && readFileSync(`/proc/${orphan}/stat`, "utf8").split(" ")[2] !== "Z").toBe(false);
    expect(existsSync(join(stage.workdir, "pilot-doomed"))).toBe(false);
  }, 240_000);
});
