// `wms services check` tells the user how to start a service that does not answer. Here each hint
// for a port other than the default is run as the user would paste it (`sh -c`), on this machine,
// beside the servers it already runs: the shared NATS, Redis and RabbitMQ (whose
// /etc/rabbitmq/rabbitmq.conf may name listeners of its own, 5672 included) and the test run's own.
// Every server started here is a private one on a free port, its files in a temporary folder, and
// it is stopped by the PID its hint wrote; the machine's servers are never touched.
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../platform/local-services.ts";
import { checkNats, checkRabbit, checkRedis, startCommand, type ServiceName } from "../../platform/service-check.ts";
import { isAlive, processRef } from "../../platform/process-identity.ts";

const pidFiles: string[] = [];
// Open to every user: the Debian wrapper runs rabbitmq-server as the rabbitmq user, which makes its data folders here.
const under = mkdtempSync(join(tmpdir(), "wms-hints-"));
chmodSync(under, 0o1777);

function runHint(hint: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile("sh", ["-c", hint], { cwd: under, encoding: "utf8", timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

function pidIn(file: string): number {
  return Number(readFileSync(file, "utf8").trim());
}

/** Alive and not a zombie (the platform's own test, which `wms up` and the factory use too). */
const alive = (pid: number): boolean => isAlive(processRef(pid));

async function until(f: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await f()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Stops the server a hint started, by the PID in its pid file, and waits for it to go. */
async function stopByPidFile(file: string): Promise<void> {
  if (!existsSync(file)) return;
  const pid = pidIn(file);
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return;
  process.kill(pid, "SIGTERM");
  if (!(await until(() => !alive(pid), 30_000))) process.kill(pid, "SIGKILL");
}

afterAll(async () => {
  for (const f of pidFiles) await stopByPidFile(f);
  rmSync(under, { recursive: true, force: true });
}, 60_000);

/** Whether something listens on a loopback port (a connect that succeeds). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

const has = (file: string): boolean => existsSync(file);
// A node registers with the machine's port mapper (epmd, 4369), which its RabbitMQ runs; where none
// runs, the node would start one as a daemon that outlives it, so the hint is not run there.
const epmd = await listening(4369);
const runsAsRoot = process.getuid?.() === 0;
const why: Record<ServiceName, string | undefined> = {
  nats: has("/usr/sbin/nats-server") && has("/sbin/start-stop-daemon") ? undefined : "nats-server or start-stop-daemon is not installed",
  redis: has("/usr/bin/redis-server") ? undefined : "redis-server is not installed",
  // The Debian wrapper only runs for root (or the rabbitmq user).
  rabbitmq: !has("/usr/sbin/rabbitmq-server") || !runsAsRoot ? "rabbitmq-server is not installed, or this is not root" : epmd ? undefined : "no epmd answers on 4369 (the node would start one that outlives it)",
};
for (const [s, reason] of Object.entries(why)) if (reason) console.warn(`start-hints: the ${s} hint is not run: ${reason}`);

describe("the start hints of 'wms services check', run as printed", () => {
  it.skipIf(why.redis !== undefined)("starts a Redis on the port asked with a pid file of its own, leaving the machine's /var/run/redis.pid alone", async () => {
    const port = await freePort();
    const hint = startCommand("redis", port, under);
    const pidFile = join(under, `wms-redis-${port}.pid`);
    pidFiles.push(pidFile);
    const shared = existsSync("/var/run/redis.pid") ? readFileSync("/var/run/redis.pid", "utf8") : undefined;
    const r = await runHint(hint);
    expect(r, hint).toMatchObject({ code: 0 });
    expect(await until(async () => (await checkRedis(`redis://127.0.0.1:${port}`, 1000)).up, 30_000), hint).toBe(true);
    expect(await until(() => existsSync(pidFile), 10_000)).toBe(true);
    expect(alive(pidIn(pidFile))).toBe(true);
    expect(existsSync("/var/run/redis.pid") ? readFileSync("/var/run/redis.pid", "utf8") : undefined).toBe(shared);
    await stopByPidFile(pidFile);
    expect((await checkRedis(`redis://127.0.0.1:${port}`, 500)).up).toBe(false);
  });

  it.skipIf(why.nats !== undefined)("starts a NATS server on the port asked while other nats-servers run (start-stop-daemon found them 'already running')", async () => {
    const port = await freePort();
    const hint = startCommand("nats", port, under);
    const pidFile = join(under, `wms-nats-${port}.pid`);
    pidFiles.push(pidFile);
    const r = await runHint(hint);
    expect(r.output, hint).not.toMatch(/already running/);
    expect(r.code, hint).toBe(0);
    expect(await until(async () => (await checkNats(`nats://127.0.0.1:${port}`, 1000)).up, 30_000), hint).toBe(true);
    await stopByPidFile(pidFile);
    expect((await checkNats(`nats://127.0.0.1:${port}`, 500)).up).toBe(false);
  });

  it.skipIf(why.rabbitmq !== undefined)(
    "starts a RabbitMQ node on the port asked, with its own node name, data and configuration beside the machine's",
    async () => {
      const port = await freePort();
      const hint = startCommand("rabbitmq", port, under);
      const node = `wms${port}@localhost`;
      expect(hint).toContain(`RABBITMQ_NODENAME=${node}`);
      // Where RabbitMQ writes the node's pid: RABBITMQ_MNESIA_BASE/<node>.pid.
      const pidFile = join(under, `wms-rabbitmq-${port}`, "mnesia", `${node}.pid`);
      pidFiles.push(pidFile);
      const r = await runHint(hint);
      expect(r, hint).toMatchObject({ code: 0 });
      // RabbitMQ's boot takes 10-30 s here, far longer on a loaded machine.
      const up = await until(async () => (await checkRabbit(`amqp://guest:guest@127.0.0.1:${port}`, 3000)).up, 150_000);
      const log = join(under, `wms-rabbitmq-${port}`, "log", `${node}.log`);
      const eaddrinuse = existsSync(log) ? /eaddrinuse/.test(readFileSync(log, "utf8")) : false;
      expect({ up, eaddrinuse }, hint).toEqual({ up: true, eaddrinuse: false });
      await stopByPidFile(pidFile);
      expect((await checkRabbit(`amqp://guest:guest@127.0.0.1:${port}`, 1000)).up).toBe(false);
    },
    240_000,
  );
});
