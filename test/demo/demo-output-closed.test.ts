// `wms demo 2>&1 | head`: the reader goes away while the demo runs. The demo's private servers and
// pilots run in process groups of their own, so a demo that just exited on the closed pipe (as
// `wms errors | head` does) left nats-server, redis-server, RabbitMQ, its port mapper and the pilots
// running, and its temporary folder behind. It must stop them as on Ctrl-C.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { REPO_ROOT, WMS_BIN } from "../support/run-cli.ts";

/** Pids whose command line names `text` (the demo's folder: its servers' data and its pilots' work dirs). */
function processesNaming(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

describe("wms demo when its output is closed", () => {
  it("stops its private servers and pilots and deletes its folder when the reader of its output goes away", async () => {
    // Private servers of its own (the default), whatever services the test run uses.
    const env = { ...process.env, WMS_NATS_URL: undefined, WMS_REDIS_URL: undefined, WMS_RABBITMQ_URL: undefined, WMS_IDENTITY_FILE: undefined, WMS_CONFIG: undefined };
    const child = spawn(process.execPath, [WMS_BIN, "demo", "--jobs", "40", "--sites", "1", "--pilots", "1", "--matchmakers", "1"], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    let seen = "";
    let folder: string | undefined;
    try {
      // Read until the task runs (its folder named on the way), then go away as `head` does.
      await new Promise<void>((resolve, reject) => {
        const read = (d: Buffer): void => {
          seen += d.toString();
          folder ??= /\bin (\/\S*wms-demo-[^/\s]+)/.exec(seen)?.[1];
          if (folder && /progress: /.test(seen)) resolve();
        };
        child.stdout.on("data", read);
        child.stderr.on("data", read);
        void exited.then(() => reject(new Error(`the demo ended first:\n${seen}`)));
      });
      expect(processesNaming(folder as string).length).toBeGreaterThan(0);
      child.stdout.destroy();
      child.stderr.destroy();
      await exited;
      expect(existsSync(folder as string), `${folder} left behind`).toBe(false);
      await expect.poll(() => processesNaming(folder as string), { timeout: 30_000 }).toEqual([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      await exited;
    }
  }, 240_000);
});
