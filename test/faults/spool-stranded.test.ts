// Reports stranded on a node: RabbitMQ (a private broker) is down while a pilot runs every job there
// is, so each final report goes to the node's disk spool. With no job left the pilot would exit,
// and a pilot the batch system kills would leave the same files behind; either way nobody on the
// node would send them, and the finished jobs would wait in holding until the holding timeout (6 h)
// and then fail. Here the pilot stays on the node while the spool holds reports, is then killed
// with SIGKILL, and the next pilot started on the node (with no job to run) sends what the dead one
// left and stays until it is out: every job ends finished, each payload ran once.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { describe, expect, it } from "vitest";
import { faultRun } from "../support/pilot-stage.ts";

const JOBS = 30;
const run = faultRun({ label: "stranded", site: "STRANDED", userDn: "/DC=org/DC=pilot-wms/OU=People/CN=Stranded Spool", servers: ["rabbitmq"], leaseSec: 4, jobs: JOBS, pilots: 1 });

const spooled = (): number => {
  const dir = join(run.stage.workdir, ".report-spool");
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".report.json")).length : 0;
};

const running = (p: ChildProcess): boolean => p.exitCode === null && p.signalCode === null;

function exited(p: ChildProcess): Promise<number | null> {
  if (!running(p)) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => p.once("exit", (code) => resolve(code)));
}

describe("reports spooled on a node whose pilot is gone", () => {
  it("are sent by the next pilot on the node, which stays until they are out; the jobs end finished", async () => {
    const rabbit = run.server("rabbitmq");
    await rabbit.stop();
    const [first] = await run.start({ sleepSec: 0.2 });
    const stage = run.stage;
    const taskId = run.taskId;

    // Every payload ran and ended; its reports wait in the node's spool, its job in holding.
    await expect.poll(async () => (await stage.store.taskCounts(taskId)).holding ?? 0, { timeout: 120_000, interval: 250 }).toBe(JOBS);
    // Out of jobs (20 empty adverts), the pilot does not leave the reports behind: it says so and stays.
    await expect.poll(() => stage.pilotOutput("pilot-0"), { timeout: 30_000, interval: 250 }).toContain("not exiting until they are out");
    expect(spooled()).toBeGreaterThanOrEqual(JOBS);
    await new Promise((r) => setTimeout(r, 1000));
    expect(running(first), "the pilot stays while the node's spool holds reports").toBe(true);

    // The batch system kills it (a slot's hard limit): the files stay on the node.
    process.kill(-(first.pid as number), "SIGKILL");
    await exited(first);
    const left = spooled();
    expect(left).toBeGreaterThanOrEqual(JOBS);

    // The next pilot on the node has no job to run, finds the files at start and does not leave
    // before they are out, however long the broker stays away.
    const next = await stage.spawnPilot("pilot-next");
    await expect.poll(() => stage.pilotOutput("pilot-next"), { timeout: 30_000, interval: 250 }).toContain("not exiting until they are out");
    await new Promise((r) => setTimeout(r, 1000));
    expect(running(next)).toBe(true);
    expect(spooled()).toBe(left);
    expect((await stage.store.taskCounts(taskId)).holding).toBe(JOBS);

    await rabbit.start();
    await run.expectSettled({ timeoutMs: 120_000 });
    expect(spooled()).toBe(0);
    // With the spool empty it leaves on its own.
    expect(await exited(next)).toBe(0);
  }, 300_000);
});
