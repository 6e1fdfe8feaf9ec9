// `wms up` in the foreground where wms.yaml names a NATS and a Redis that do not answer: it starts
// private servers on free ports with data in a temporary folder, the system runs a task on them,
// and Ctrl-C stops every process, the private servers included, and deletes the folder.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../platform/local-services.ts";
import { isAlive, readUpState, type ProcessRef } from "../../deployment/up-state.ts";
import { runCli, WMS_BIN } from "../support/run-cli.ts";
import { deploymentFolder } from "../support/deployment-folder.ts";

const grid = deploymentFolder("upprivate");
const { dir } = grid;

beforeAll(() => grid.init({ matchmakers: 1 }), 120_000);

afterAll(() => grid.cleanup({ sharedRedis: false }), 60_000);

describe("wms up where the services named in wms.yaml do not answer", () => {
  it("runs on private servers it starts, and Ctrl-C stops everything and deletes their folder", async () => {
    const dead = { WMS_NATS_URL: `nats://127.0.0.1:${await freePort()}`, WMS_REDIS_URL: `redis://127.0.0.1:${await freePort()}` };
    const up = spawn(process.execPath, [WMS_BIN, "up"], { cwd: dir, env: { ...process.env, ...dead, WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    up.stdout.on("data", (d: Buffer) => (out += d.toString()));
    up.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => up.once("exit", (code) => r(code)));
    try {
      await expect.poll(() => out, { timeout: 240_000, interval: 500 }).toMatch(/up: 6 processes running/);
      // Prefixed, readable lines, one process per prefix.
      expect(out).toMatch(/^matchmaker-1 +\| \[\d\d:\d\d:\d\d\.\d{3}\] INFO: matchmaker listening/m);
      const state = readUpState(dir);
      expect(state?.startedServices.map((s) => s.split(" ")[0]).sort()).toEqual(["nats", "redis"]);
      expect(state?.tempDir && existsSync(state.tempDir)).toBe(true);
      expect(state?.urls.redis).not.toBe(dead.WMS_REDIS_URL);
      const privateUrls = { WMS_NATS_URL: state?.urls.nats, WMS_REDIS_URL: state?.urls.redis };
      expect(out).toContain(`WMS_NATS_URL=${privateUrls.WMS_NATS_URL} WMS_REDIS_URL=${privateUrls.WMS_REDIS_URL}`);

      // Other wms commands reach the private servers through the variables the log names.
      const cliEnv = { ...privateUrls, WMS_CONFIG: undefined, WMS_NAMESPACE: undefined };
      const sub = await runCli(["task", "submit", "tasks/simple-job.yaml", "--cert", "pki/users/production.cert.pem", "--key", "pki/users/production.key.pem"], { cwd: dir, env: cliEnv, timeoutMs: 120_000 });
      expect(sub.code, sub.stderr).toBe(0);
      const w = await runCli(["task", "status", sub.stdout.trim(), "--watch", "--json"], { cwd: dir, env: cliEnv, timeoutMs: 180_000 });
      expect((JSON.parse(w.stdout.trim().split("\n").pop() as string) as { counts: { finished: number } }).counts.finished).toBe(1);

      const everything: ProcessRef[] = [...(state?.servicePids ?? []), ...(readUpState(dir)?.children ?? []).map((c) => ({ pid: c.pid as number, startTicks: c.startTicks }))];
      expect(everything.length).toBe(8);
      up.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(out).toMatch(/stopped; nothing left running/);
      for (const p of everything) expect(isAlive(p), `pid ${p.pid}`).toBe(false);
      expect(existsSync(state?.tempDir as string)).toBe(false);
      expect(readUpState(dir)).toBeUndefined();
    } finally {
      if (up.exitCode === null) up.kill("SIGKILL");
    }
  }, 600_000);
});
