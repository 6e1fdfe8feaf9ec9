// A pilot cut off from RabbitMQ for the whole run of its jobs (its reports go to the node's spool),
// whose wall clock steps back 4 minutes mid-payload (an NTP step, a VM restored from a snapshot).
// Its heartbeats still reach the matchmaker, so each job whose payload ended waits in holding; once
// RabbitMQ is back every spooled report is replayed once:
// - job A's attempt 1 fails after the step (killed by a signal: retried): the failure retries the job,
//   nothing is refused as a stale update (no E1904), and attempt 2 runs once when RabbitMQ is back;
// - attempt 1's accounting record counts the wall time the payload ran, not a negative span across
//   the step (which the schema refuses: the record would be dead-lettered, its usage lost);
// - job B runs and finishes while RabbitMQ is away: its `running`, applied after the heartbeat moved
//   it to holding, still gives `wms job show` its start and wall time.
// Every payload appends `<job> <attempt>` to the execution log, so an attempt run twice is seen.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageStore } from "../../agents/accounting/index.ts";
import { ERR } from "../../schemas/index.ts";
import { pilotClock, quickTimings, startPilotStage, type PilotStage } from "../support/pilot-stage.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";
import { runCli } from "../support/run-cli.ts";
import { roleEnv } from "../support/test-roles.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Reports Late";
const SITE = "REPORTS_LATE";

let stage: PilotStage;
let proxy: TcpProxy | undefined;

beforeAll(async () => {
  stage = await startPilotStage({
    label: "reportslate",
    site: SITE,
    userDn: USER_DN,
    pilotMaxEmpty: 200,
    config: quickTimings(4),
  });
}, 120_000);

afterAll(async () => {
  await stage?.stop();
  await proxy?.stop();
}, 60_000);

const env = (): Record<string, string | undefined> => ({ ...roleEnv("operator"), WMS_CONFIG: stage.configFile });
const spooled = (): Array<{ kind: string; jobId?: string; state?: string }> => {
  const dir = join(stage.workdir, ".report-spool");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".report.json"))
    .flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(join(dir, f), "utf8")) as { kind: string; jobId?: string; state?: string }];
      } catch {
        return [];
      }
    });
};
const spooledState = (jobId: string, state: string) => (): boolean => spooled().some((r) => r.kind === "state" && r.jobId === jobId && r.state === state);

describe("reports spooled through a RabbitMQ outage and a clock step", () => {
  it("are applied once, in order: no stale refusal, every attempt accounted, start and wall time kept", async () => {
    const rabbit = new URL(stage.loaded.config.rabbitmq.url.split(",")[0] as string);
    proxy = await startTcpProxy(rabbit.hostname, Number(rabbit.port || 5672));
    const proxied = new URL(rabbit.href);
    proxied.port = String(proxy.port);
    // RabbitMQ is away from the pilot's start.
    await proxy.stop();

    const taskId = `t${randomBytes(4).toString("hex")}`;
    const log = 'echo "$WMS_JOB_ID $WMS_ATTEMPT" >> "$LOG"';
    const a = stage.shellJob({ taskId, name: "late", index: 0, script: `sleep 2; ${log}; if [ "$WMS_ATTEMPT" = 1 ]; then kill -KILL $$; fi; echo ok > "$WMS_OUTPUT_DIR/out.txt"` });
    const b = stage.shellJob({ taskId, name: "late", index: 1, script: `sleep 1; ${log}; echo ok > "$WMS_OUTPUT_DIR/out.txt"` });
    await stage.enqueueMany([a, b]);
    const pilot = await stage.spawnPilot("pilot-late", SITE, { WMS_RABBITMQ_URL: proxied.href, ...pilotClock({ jumpMs: -240_000 }) });

    // Job A's payload runs, its first reports in the spool: the clock steps back 4 minutes.
    await expect.poll(spooledState(a.jobId, "running"), { timeout: 30_000, interval: 100 }).toBe(true);
    process.kill(pilot.pid as number, "SIGUSR2");
    // A fails, B runs and finishes; their reports wait in the spool, the jobs in holding.
    await expect.poll(spooledState(a.jobId, "failed"), { timeout: 30_000, interval: 200 }).toBe(true);
    await expect.poll(spooledState(b.jobId, "finished"), { timeout: 30_000, interval: 200 }).toBe(true);
    expect((await stage.store.getJob(a.jobId))?.state).toBe("holding");

    await proxy.start();
    await expect.poll(async () => (await stage.store.getJob(a.jobId))?.state, { timeout: 45_000, interval: 200 }).toBe("finished");
    await expect.poll(async () => (await stage.store.getJob(b.jobId))?.state, { timeout: 15_000, interval: 200 }).toBe("finished");

    // Each attempt ran once.
    const lines = readFileSync(stage.executionLog, "utf8").trim().split("\n").sort();
    expect(lines).toEqual([`${a.jobId} 1`, `${a.jobId} 2`, `${b.jobId} 1`]);
    // Every attempt accounted once: A's first (its span crossed the step) included.
    const usage = new UsageStore(stage.redis, stage.loaded.names);
    await expect.poll(async () => (await usage.get("user", USER_DN)).jobs, { timeout: 15_000, interval: 200 }).toBe(3);
    expect((await usage.get("user", USER_DN)).wallSec).toBeGreaterThan(0);

    // What the user sees.
    const shownA = await stage.jobShow(a.jobId);
    expect(shownA.attempts.map((x) => [x.attempt, x.code])).toEqual([
      [1, ERR.PAYLOAD_SIGNALLED],
      [2, null],
    ]);
    const shownB = await stage.jobShow(b.jobId);
    expect(shownB.state).toBe("finished");
    expect(shownB.timings.startedAt).not.toBeNull();
    expect(shownB.timings.wallSec).not.toBeNull();
    const summary = JSON.parse((await runCli(["errors", "summary", "--json"], { env: env() })).stdout) as Array<{ code: number }>;
    expect(summary.filter((r) => r.code === ERR.JOB_STALE_UPDATE)).toEqual([]);
  }, 90_000);
});
