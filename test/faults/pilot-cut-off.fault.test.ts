// A pilot whose leases cannot be renewed while its payload runs, though its reports still flow over
// RabbitMQ: the lease lapses, the matchmaker hands the job to another pilot as a new attempt, and if
// the first payload ran on it would run twice (and stage its outputs over the second's).
// - Cut off: the pilot's NATS connection goes through a proxy the test closes (a node's link, a
//   firewall) while the payload runs. The pilot sees its connection down and its lease unrenewed,
//   and stops the payload before the lease can lapse: the job runs once, as attempt 2 elsewhere.
// - Skewed clock: the pilot's wall clock is 2 minutes ahead of the matchmaker's (an NTP-less node).
//   Its heartbeats are stamped on the matchmaker's clock (from the envelope it was handed), so they
//   stay inside the freshness window and renew the lease: the job runs once, as attempt 1.
// - Clock stepped back 10 minutes between two jobs: the second envelope (and its credential request)
//   is checked on the matchmaker's clock as the pilot saw it, not refused as issued in the future,
//   which cost the job an attempt per refusal until it failed with E1104.
// Every payload appends a line to the execution log when it ends, so a second run is seen.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { pilotClock, quickTimings, startPilotStage, type PilotStage } from "../support/pilot-stage.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Cut Off Pilot";
const SITE = "CUT_OFF";
const LEASE_SEC = 4;

let stage: PilotStage;
let proxy: TcpProxy | undefined;

beforeAll(async () => {
  stage = await startPilotStage({
    label: "cutoff",
    site: SITE,
    userDn: USER_DN,
    // A second pilot polls for the requeued job for up to ~40 s instead of leaving after 4 s of empty adverts.
    pilotMaxEmpty: 200,
    config: quickTimings(LEASE_SEC),
  });
}, 120_000);

afterAll(async () => {
  await stage?.stop();
  await proxy?.stop();
}, 60_000);

const LOGGED = 'echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function killPilots(...pilots: ChildProcess[]): Promise<void> {
  const live = pilots.filter((p) => p.exitCode === null && p.signalCode === null);
  const ended = live.map((p) => new Promise<void>((r) => p.once("exit", () => r())));
  for (const p of live) process.kill(-(p.pid as number), "SIGKILL");
  await Promise.all(ended);
}

describe("a pilot that cannot renew its lease while its payload runs", () => {
  it("cut off from NATS, stops its payload before the lease lapses; the job runs once, as attempt 2 on another pilot", async () => {
    const nats = new URL(stage.loaded.config.nats.url.split(",")[0] as string);
    proxy = await startTcpProxy(nats.hostname, Number(nats.port || 4222));
    const proxied = new URL(nats.href);
    proxied.port = String(proxy.port);
    const taskId = `t${randomBytes(4).toString("hex")}`;
    // Longer than the lease by far: the payload is still running when the lease would lapse.
    const job = stage.shellJob({ taskId, name: "cutoff", script: `sleep 8; ${LOGGED}` });
    await stage.enqueue(job);
    const cut = await stage.spawnPilot("pilot-cut", SITE, { WMS_NATS_URL: proxied.href.replace(/\/$/, "") });
    const pilots = [cut];
    // Whatever the outcome, neither pilot stays to take the next test's job.
    try {
      await expect.poll(async () => (await stage.store.getJob(job.jobId))?.state, { timeout: 30_000, interval: 100 }).toBe("running");
      const runningAt = Date.now();
      await proxy.stop();
      pilots.push(await stage.spawnPilot("pilot-next"));

      await expect.poll(async () => (await stage.store.getJob(job.jobId))?.state, { timeout: 45_000, interval: 200 }).toBe("finished");
      // Long enough for the first payload to have ended and logged, had it been left running.
      const left = runningAt + 8_000 + 3_000 - Date.now();
      if (left > 0) await sleep(left);
      expect(stage.executions().get(job.jobId), "the payload ran more than once").toBe(1);
      const show = await stage.jobShow(job.jobId);
      expect(show.state).toBe("finished");
      expect(show.attempts.map((a) => [a.attempt, a.pilotId, a.code])).toEqual([
        [1, "pilot-cut", ERR.MATCH_LOCK_LOST],
        [2, "pilot-next", null],
      ]);
      expect(show.attempts[0]?.message).toContain("lease");
    } finally {
      await killPilots(...pilots);
    }
  }, 60_000);

  it("with its clock 2 minutes ahead, keeps its lease; the job runs once, as attempt 1", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    const job = stage.shellJob({ taskId, name: "skewed", script: `sleep 6; ${LOGGED}` });
    await stage.enqueue(job);
    const skewed = await stage.spawnPilot("pilot-skewed", SITE, pilotClock({ offsetMs: 120_000 }));
    onTestFinished(() => killPilots(skewed));
    await expect.poll(async () => (await stage.store.getJob(job.jobId))?.state, { timeout: 45_000, interval: 200 }).toMatch(/^(finished|failed)$/);
    expect(stage.executions().get(job.jobId), "the payload ran more than once").toBe(1);
    const show = await stage.jobShow(job.jobId);
    expect(show.state).toBe("finished");
    expect(show.attempts.map((a) => [a.attempt, a.pilotId, a.code])).toEqual([[1, "pilot-skewed", null]]);
    // Its times are the deployment's, not 2 minutes in the future.
    expect(show.timings.endedAt).toBeLessThanOrEqual(Date.now());
  }, 60_000);

  it("whose clock is 10 minutes off when it starts, exits with E1108 and runs nothing; the job keeps its attempt and runs once elsewhere", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    const job = stage.shellJob({ taskId, name: "clockoff", script: `sleep 1; ${LOGGED}` });
    await stage.enqueue(job);
    // Ahead (its first envelope looks expired) and behind (issued in the future, or signed by a
    // certificate not valid yet): both refusals are only about time, and the pilot says so.
    for (const [id, offsetMs] of [["pilot-ahead", 600_000], ["pilot-behind", -600_000]] as const) {
      const skewed = await stage.spawnPilot(id, SITE, pilotClock({ offsetMs }));
      onTestFinished(() => killPilots(skewed));
      const code = await new Promise<number | null>((r) => skewed.once("exit", (c) => r(c)));
      const out = stage.pilotOutput(id);
      expect(code, out).not.toBe(0);
      expect(out).toContain(`E${ERR.PILOT_CLOCK_OFF}`);
      expect(out).toMatch(new RegExp(`clock is \\d+ s ${offsetMs > 0 ? "ahead of" : "behind"} the matchmaker's`));
      expect(stage.executions().get(job.jobId)).toBeUndefined();
      // Its claim, never confirmed, goes back to the queue as the same attempt.
      await expect.poll(async () => (await stage.store.getJob(job.jobId))?.state, { timeout: 30_000, interval: 200 }).toBe("activated");
      expect((await stage.store.getJob(job.jobId))?.attempt).toBe(1);
    }
    const next = await stage.spawnPilot("pilot-on-time");
    onTestFinished(() => killPilots(next));
    await expect.poll(async () => (await stage.store.getJob(job.jobId))?.state, { timeout: 45_000, interval: 200 }).toMatch(/^(finished|failed)$/);
    expect(stage.executions().get(job.jobId), "the payload ran more than once").toBe(1);
    const show = await stage.jobShow(job.jobId);
    expect(show.state).toBe("finished");
    expect(show.attempts.map((a) => [a.attempt, a.pilotId, a.code])).toEqual([[1, "pilot-on-time", null]]);
  }, 120_000);

  it("whose clock steps back 10 minutes between two jobs, takes the second: its envelope is checked on the matchmaker's clock", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    const first = stage.shellJob({ taskId, name: "stepped", index: 0, script: `sleep 3; ${LOGGED}` });
    const second = stage.shellJob({ taskId, name: "stepped", index: 1, script: `sleep 1; ${LOGGED}` });
    await stage.enqueueMany([first, second]);
    const stepped = await stage.spawnPilot("pilot-stepped", SITE, pilotClock({ jumpMs: -600_000 }));
    onTestFinished(() => killPilots(stepped));
    await expect.poll(async () => (await stage.store.getJob(first.jobId))?.state, { timeout: 30_000, interval: 100 }).toBe("running");
    // An NTP step or a VM restored: the node's clock is now 10 minutes behind the matchmaker's, more
    // than the 5 minutes an envelope's issue time may be ahead of the pilot's clock.
    process.kill(stepped.pid as number, "SIGUSR2");
    for (const j of [first, second]) {
      await expect.poll(async () => (await stage.store.getJob(j.jobId))?.state, { timeout: 40_000, interval: 200 }).toMatch(/^(finished|failed)$/);
      expect(stage.executions().get(j.jobId), `${j.jobId} ran more than once`).toBe(1);
      const show = await stage.jobShow(j.jobId);
      expect(show.state).toBe("finished");
      expect(show.attempts.map((a) => [a.attempt, a.pilotId, a.code])).toEqual([[1, "pilot-stepped", null]]);
    }
    expect(stage.pilotOutput("pilot-stepped")).not.toContain("envelope rejected");
  }, 90_000);
});
