// A payload at a site without identity switching tries to outlive its job: it double-forks through
// `setsid` into a new session, reparented away from the pilot. Each test fails if the escapee is
// still alive after the job's cleanup.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { containPayload, directLauncher, supervise } from "../../agents/pilot/index.ts";
import type { Site } from "../../schemas/index.ts";
import { sampleJob } from "./support/sample-job.ts";
import { isAlive, processRef } from "../../platform/process-identity.ts";

const root = mkdtempSync(path.join(tmpdir(), "wms-escape-"));
const escapees: number[] = [];
afterAll(() => {
  for (const pid of escapees) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone, as it should be */
    }
  }
  rmSync(root, { recursive: true, force: true });
});

/** Alive and not a zombie (the platform's own test, which `wms up` and the factory use too). */
const alive = (pid: number): boolean => isAlive(processRef(pid));

// The escape: a new session, a double fork, the grandchild writes its pid and sleeps for minutes.
// The payload ends once the grandchild has written its pid (in its own session by then), not after
// a fixed 0.3 s: on a loaded machine the payload's group could be gone before the escape was made.
const ESCAPE = 'setsid sh -c \'sh -c "echo \\$\\$ > $0; exec sleep 300" "$0" &\' "$1"; while [ ! -s "$1" ]; do sleep 0.05; done';

async function escapedPid(file: string): Promise<number> {
  await expect.poll(() => existsSync(file) && readFileSync(file, "utf8").trim() !== "", { timeout: 15_000, interval: 50 }).toBe(true);
  const pid = Number(readFileSync(file, "utf8").trim());
  escapees.push(pid);
  return pid;
}

describe("payload containment", () => {
  it("kills a setsid double-fork escapee of a payload run at an `off` site when the job ends", async () => {
    const jobDir = mkdtempSync(path.join(root, "job-"));
    const pidFile = path.join(root, "escaped-launcher.pid");
    const job = { ...sampleJob("escape-1"), executable: "/bin/sh", arguments: ["-c", ESCAPE, "sh", pidFile] };
    const site: Site = { name: "SITE_A", storagePath: root, online: true, identitySwitch: "off", capacity: 1, softwareTags: [], authz: [], mapping: [] };
    const launched = await directLauncher({ job, lockToken: "lease-of-pilot-1", submitterDn: job.userDn, pilotId: "pilot-1", site, jobDir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, proxyPem: "proxy", pilotSecretsDir: root, node: "n" });
    const outcome = await supervise(launched.child, { walltimeSec: 60, memoryMb: 1000, pollMs: 50, graceMs: 100 }).done;
    expect(outcome.exitCode).toBe(0);
    const pid = await escapedPid(pidFile);
    // The payload's own process group is gone, yet the escapee lives in a session of its own...
    expect(alive(pid)).toBe(true);
    await launched.cleanup();
    // ...until the job's cleanup ends it.
    await expect.poll(() => alive(pid), { timeout: 15_000, interval: 50 }).toBe(false);
  });

  it("kills the escapee through the environment marker where no cgroup can be made", async () => {
    const pidFile = path.join(root, "escaped-marker.pid");
    const c = await containPayload("escape-2", { prefer: "marker" });
    expect(c.kind).toBe("marker");
    const run = c.wrap("/bin/sh", ["-c", ESCAPE, "sh", pidFile]);
    const child = spawn(run.command, run.args, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...c.env }, detached: true, stdio: "ignore" });
    await new Promise((r) => child.once("exit", r));
    const pid = await escapedPid(pidFile);
    expect(alive(pid)).toBe(true);
    expect(await c.killAll()).toBeGreaterThanOrEqual(1);
    await expect.poll(() => alive(pid), { timeout: 15_000, interval: 50 }).toBe(false);
  });
});
