// A pilot killed with SIGKILL cannot end its payload. The local adapter, like a batch system's job
// slot, runs each pilot in a cgroup of its own, and when its query finds the pilot gone it ends
// whatever is left there: here a payload that escaped with `setsid` (its own session, reparented
// to init, out of every process group the pilot knew). Needs root (or a delegated cgroup v2
// subtree); skipped, saying so, elsewhere.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalAdapter, type PilotCommandBuilder, type PilotLaunch, type PilotRuntime, type SubmitContext } from "../../pilot-factory/index.ts";
import { pilotCgroupName, SWEEP_EVERY_QUERIES } from "../../pilot-factory/adapters/local-adapter.ts";
import { killCgroup, makeChildCgroup } from "../../platform/cgroups.ts";
import type { FactoryQueue } from "../../schemas/index.ts";
import { pidsWithArg } from "../support/processes.ts";

const tmp = mkdtempSync(path.join(os.tmpdir(), "wms-pilot-cgroup-"));
const strays: number[] = [];
afterAll(() => {
  for (const pid of strays) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

const probe = await makeChildCgroup(`wms-probe-${randomBytes(4).toString("hex")}`);
if (probe !== undefined) await killCgroup(probe);
const canContain = probe !== undefined;
if (!canContain) console.warn("local-pilot-cgroup: this process may not make cgroups (not root, no delegated cgroup v2): skipped");

const queue: FactoryQueue = {
  name: "local-q",
  site: "SITE_A",
  adapter: "local",
  targetIdle: 1,
  maxPending: 1,
  maxRunning: 1,
  maxPerCycle: 1,
  pilotsPerMinute: 60,
  cycleSec: 10,
  pilotLifetimeSec: 600,
  tokenUses: 1,
  emptyAdvertsLimit: 1,
};
const runtime: PilotRuntime = { nodePath: process.execPath, wmsBin: "/nonexistent", namespace: "cg", serviceUrls: { nats: "nats://127.0.0.1:1", redis: "redis://127.0.0.1:1", rabbitmq: "amqp://127.0.0.1:1" } };

async function until(what: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return what();
}

/**
 * Starts a "pilot" whose payload escapes with setsid, kills the pilot with SIGKILL, and asks the
 * adapter after it; `gone` says whether the escapee ended within `waitMs` of that.
 */
async function killedPilot(adapter: LocalAdapter, waitMs: number): Promise<{ escapee: string; gone: boolean }> {
  // A duration nobody else runs: the escapee's command line names it.
  const escapee = `300.${randomBytes(3).readUIntBE(0, 3)}`;
  const pilotCommand: PilotCommandBuilder = () => ({ command: "/bin/sh", args: ["-c", `setsid sleep ${escapee} </dev/null >/dev/null 2>&1 & wait`], env: {} });
  const ctx: SubmitContext = { factoryId: "fac-cg", queue, queueDir: tmp, runtime, pilotCommand };
  const launch: PilotLaunch = { pilotId: `local-q.cg.${randomBytes(3).toString("hex")}`, site: "SITE_A", queue: "local-q", factoryId: "fac-cg", token: `tok_${"x".repeat(40)}`, lifetimeSec: 600, maxEmpty: 1 };
  const out = await adapter.submit([launch], ctx);
  expect(out.submitted).toEqual([launch.pilotId]);
  expect(await until(() => pidsWithArg(escapee).length === 1), "the payload started").toBe(true);
  strays.push(...pidsWithArg(escapee));
  const pilot = adapter.started.get(launch.pilotId);
  process.kill(pilot!.pid, "SIGKILL");
  const batchId = out.batchIds![launch.pilotId];
  expect(await until(() => !existsSync(`/proc/${pilot!.pid}`) || readFileSync(`/proc/${pilot!.pid}/stat`, "utf8").includes(") Z "))).toBe(true);
  const view = await adapter.query([{ pilotId: launch.pilotId, batchId }]);
  expect(view.get(launch.pilotId)).toBe("gone");
  return { escapee, gone: await until(() => pidsWithArg(escapee).length === 0, waitMs) };
}

describe.runIf(canContain)("a local pilot killed with SIGKILL", () => {
  it("leaves no payload behind once the adapter finds it gone, setsid escapes included", async () => {
    const adapter = new LocalAdapter({ env: process.env });
    // Generous: this waits for something to happen, and a loaded machine is slow to show it.
    const { gone } = await killedPilot(adapter, 15_000);
    expect(gone).toBe(true);
    expect(adapter.orphansKilled).toBeGreaterThanOrEqual(1);
    expect([...adapter.started.values()][0].cgroup).toBeDefined();
    expect(existsSync([...adapter.started.values()][0].cgroup!)).toBe(false);
  });

  it("without cgroups the escaped payload runs on (what the cgroup prevents)", async () => {
    const adapter = new LocalAdapter({ env: process.env, cgroups: false });
    // Three seconds to see nothing happen: the escapee would live its 300 s.
    const { escapee, gone } = await killedPilot(adapter, 3000);
    expect(gone).toBe(false);
    expect(pidsWithArg(escapee)).toHaveLength(1);
  });
});

describe.runIf(canContain)("empty pilot cgroups (of pilots that ended on their own)", () => {
  it("are removed when a queue's number of pilots changes and every few queries otherwise, not read on every query", async () => {
    const adapter = new LocalAdapter({ env: process.env, emptyCgroupAgeMs: 300 });
    const ctx = { factoryId: "fac-cg", queue };
    const made: string[] = [];
    const leftover = async (): Promise<string> => {
      const dir = await makeChildCgroup(pilotCgroupName(`local-q.left.${randomBytes(3).toString("hex")}`));
      expect(dir).toBeDefined();
      made.push(dir!);
      return dir!;
    };
    const ask = (n: number): Promise<unknown> => adapter.query(Array.from({ length: n }, (_, i) => ({ pilotId: `local-q.cg.p${i}` })), ctx);
    const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 400));
    try {
      // A sweep removes a cgroup that an earlier sweep, 300 ms or more before, found empty too.
      // The queue's first query sweeps (a restarted factory's leftovers): it finds the cgroup empty.
      let dir = await leftover();
      await ask(1);
      await pause();
      // Same pilots: no sweep until the last of SWEEP_EVERY_QUERIES queries.
      for (let i = 1; i < SWEEP_EVERY_QUERIES; i++) await ask(1);
      expect(existsSync(dir), "swept before its turn").toBe(true);
      await ask(1);
      expect(existsSync(dir)).toBe(false);
      // One pilot more, then one fewer: each a sweep at once.
      dir = await leftover();
      await ask(2);
      await pause();
      await ask(1);
      expect(existsSync(dir)).toBe(false);
    } finally {
      for (const dir of made) await killCgroup(dir);
    }
  });
});
