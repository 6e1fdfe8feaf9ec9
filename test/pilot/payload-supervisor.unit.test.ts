import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { supervise } from "../../agents/pilot/payload-supervisor.ts";

const sh = (script: string) => spawn("/bin/sh", ["-c", script], { detached: true, stdio: "ignore" });
const opts = { walltimeSec: 60, memoryMb: 4096, pollMs: 100, graceMs: 500 };

describe("payload supervisor", () => {
  it("reports the exit code and the CPU the payload burned", async () => {
    // Burns 0.4 s of CPU (counted by its own clock, so a loaded machine only makes it slower), then exits 3.
    const child = spawn(process.execPath, ["-e", "const c=()=>{const u=process.cpuUsage();return u.user+u.system};while(c()<400000){};process.exit(3)"], { detached: true, stdio: "ignore" });
    const o = await supervise(child, opts).done;
    expect(o.exitCode).toBe(3);
    expect(o.killedFor).toBeUndefined();
    expect(o.userCpuSec + o.sysCpuSec).toBeGreaterThanOrEqual(0.38);
    expect(o.maxRssKb).toBeGreaterThan(1000);
  });

  it("kills a payload that outlives its walltime, children included", async () => {
    const pidFile = path.join(mkdtempSync(path.join(os.tmpdir(), "sup-")), "pid");
    const child = sh(`sleep 30 & echo $! > ${pidFile}; sleep 30; wait`);
    const s = supervise(child, { ...opts, walltimeSec: 1 });
    const o = await s.done;
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    // Gone, or a zombie waiting for a container's init to reap it: either way not running.
    const state = (): string | undefined => (existsSync(`/proc/${grandchild}/stat`) ? readFileSync(`/proc/${grandchild}/stat`, "utf8").split(") ")[1]?.[0] : "gone");
    await vi.waitFor(() => expect(["gone", "Z", "X"]).toContain(state()), { timeout: 15_000, interval: 20 });
    expect(o.killedFor?.code).toBe(ERR.PAYLOAD_WALLTIME_EXCEEDED);
    expect(o.signal).toBe("SIGTERM");
    expect(o.wallSec).toBeLessThan(10);
  });

  it("kills a payload whose process tree goes over its memory", async () => {
    // A child process holds ~150 MB; the job allows 64 MB.
    const child = spawn("/bin/sh", ["-c", `${process.execPath} -e "const b=Buffer.alloc(150*1024*1024,1);setInterval(()=>b[0]++,100)"; exit 0`], { detached: true, stdio: "ignore" });
    const o = await supervise(child, { ...opts, memoryMb: 64 }).done;
    expect(o.killedFor?.code).toBe(ERR.PAYLOAD_MEMORY_EXCEEDED);
    expect(o.maxRssKb).toBeGreaterThan(64 * 1024);
  });

  it("ends the payload when the pilot is told to stop", async () => {
    const ac = new AbortController();
    const s = supervise(sh("sleep 30"), { ...opts, signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    const o = await s.done;
    expect(o.killedFor?.code).toBe(ERR.PILOT_PREEMPTED);
  });

  it("keeps the first reason when killed twice", async () => {
    const s = supervise(sh("sleep 30"), opts);
    s.kill(ERR.PAYLOAD_CANCELLED, "cancelled by its owner");
    s.kill(ERR.PAYLOAD_WALLTIME_EXCEEDED, "late");
    const o = await s.done;
    expect(o.killedFor).toEqual({ code: ERR.PAYLOAD_CANCELLED, reason: "cancelled by its owner" });
  });

  it("escalates to SIGKILL when the payload ignores SIGTERM", async () => {
    const s = supervise(sh("trap '' TERM; while true; do sleep 0.1; done"), { ...opts, graceMs: 300 });
    setTimeout(() => s.kill(ERR.PAYLOAD_CANCELLED, "stop"), 200);
    const o = await s.done;
    expect(o.signal).toBe("SIGKILL");
  });

  it("says so when the executable cannot be started", async () => {
    const child = spawn("/nonexistent/payload", [], { detached: true, stdio: "ignore" });
    const o = await supervise(child, opts).done;
    expect(o.startError).toMatch(/ENOENT/);
  });
});
