// A run killed before its global teardown (a cancelled CI job) must not leave its private NATS,
// Redis and RabbitMQ (beam and epmd) running: the set-up is started in a child process, killed with
// SIGKILL, and every server it started must be gone within seconds. The machine's shared services
// are never touched: they answer before and after.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { startTicks } from "../../platform/process-identity.ts";
import { REPO_ROOT } from "../support/run-cli.ts";

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
    s.setTimeout(3000, () => (s.destroy(), resolve(false)));
  });
}

const SHARED_PORTS = [4222, 6379, 5672];

describe("the test run's private servers", () => {
  it("die with the process that started them when it is killed before its teardown", async () => {
    const sharedBefore = await Promise.all(SHARED_PORTS.map(answers));
    // The set-up as a run with authentication starts it, whatever mode this run is in.
    const env: Record<string, string | undefined> = { ...process.env };
    for (const k of ["WMS_TEST_SERVICES", "WMS_TEST_SECRETS", "WMS_NATS_URL", "WMS_REDIS_URL", "WMS_RABBITMQ_URL", "WMS_TEST_TLS_CERT", "WMS_TEST_TLS_KEY"]) delete env[k];
    const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "test/support/start-auth-run.ts")], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    let root = "";
    try {
      const until = Date.now() + 150_000;
      while (!/^ready (\S+)\n/m.test(out) && child.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
      const secrets = /^ready (\S+)\n/m.exec(out)?.[1];
      expect(secrets, `the set-up did not finish: ${err}`).toBeDefined();
      root = dirname(secrets as string);
      const servers = (JSON.parse(readFileSync(join(root, "pids.json"), "utf8")) as Array<{ pid: number; startTicks: string }>);
      // nats-server, redis-server, the RabbitMQ node and its epmd.
      expect(servers).toHaveLength(4);
      for (const s of servers) expect(startTicks(s.pid), `server ${s.pid} runs`).toBe(s.startTicks);
      child.kill("SIGKILL");
      const t0 = Date.now();
      const running = (): number[] => servers.filter((s) => startTicks(s.pid) === s.startTicks).map((s) => s.pid);
      while (running().length > 0 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 250));
      console.info(`the servers were gone ${Date.now() - t0} ms after the set-up's process was killed`);
      expect(running()).toEqual([]);
      await expect.poll(() => existsSync(root), { timeout: 10_000 }).toBe(false);
      expect(await Promise.all(SHARED_PORTS.map(answers))).toEqual(sharedBefore);
    } finally {
      child.kill("SIGKILL");
    }
  }, 240_000);
});
