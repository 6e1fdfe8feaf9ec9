// `wms up --detach`, `wms status`, `wms down` on a folder from `wms init`, against the loopback
// services: every service runs and is restarted when killed, the example tasks behave as their
// files say, and `wms down` leaves no process, no state and no temporary folder. With
// authentication on, the services are the test run's, set up with the users of its `wms secrets
// init` folder, which the deployment holds as its own (.wms/secrets): `wms up` then runs each
// service as its role on them, and later commands in the folder as the operator.
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive, readUpState, servicesAccess, type ProcessRef } from "../../deployment/up-state.ts";
import { livePilots } from "../../deployment/local-pilots.ts";
import { deploymentFolder } from "../support/deployment-folder.ts";
import { testAuth } from "../support/test-roles.ts";

const grid = deploymentFolder("up");
const { dir, wms } = grid;

const runSecrets = process.env.WMS_TEST_SECRETS;

beforeAll(() => {
  grid.init({ matchmakers: 1 });
  if (testAuth() && runSecrets) cpSync(runSecrets, path.join(dir, ".wms", "secrets"), { recursive: true });
}, 120_000);

afterAll(() => grid.cleanup());

describe("wms up --detach, status, down", () => {
  let everything: ProcessRef[] = [];

  it("refuses a monitor port that is taken, in one line with its code, and starts nothing", async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
    const port = (busy.address() as { port: number }).port;
    const file = path.join(dir, "wms.yaml");
    const original = readFileSync(file, "utf8");
    writeFileSync(file, original.replace(/monitorPort: 0\b/, `monitorPort: ${port}`));
    try {
      const r = await wms(["up"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`wms: error E1010 PORT_IN_USE: The address and port are already in use; pick another port or stop what listens there: the monitor's port 127.0.0.1:${port}: set up.monitorPort in ${file} (0 picks a free one); nothing was started\n`);
      expect(readUpState(dir)).toBeUndefined();
      // Detached, the same cause under its own code, once (not a service outage wrapping the child's line).
      const d = await wms(["up", "--detach", "--timeout", "60"], 90_000);
      expect(d.code).toBe(1);
      expect(d.stderr).toBe(`wms: error E1010 PORT_IN_USE: The address and port are already in use; pick another port or stop what listens there: wms up stopped while starting (exit 1): the monitor's port 127.0.0.1:${port}: set up.monitorPort in ${file} (0 picks a free one); nothing was started\n`);
      expect(readUpState(dir)).toBeUndefined();
    } finally {
      writeFileSync(file, original);
      busy.close();
    }
  }, 180_000);

  it("starts every service in the background, each running, and says where the monitor is", async () => {
    // A folder made before the report-key seal existed: wms up makes its key before any service needs it.
    const reportKeySeal = path.join(dir, "pki", "seals", "report-key.keys");
    rmSync(reportKeySeal);
    // --json without --detach: a usage error, nothing started.
    const fg = await wms(["up", "--json"]);
    expect(fg.code).toBe(2);
    expect(fg.stderr).toBe("wms: error E1008 USAGE: The command line is not valid: --json needs --detach (in the foreground, --json-logs prints the logs as JSON)\n");
    expect(readUpState(dir)).toBeUndefined();
    const r = await wms(["up", "--detach", "--json"], 240_000);
    expect(existsSync(reportKeySeal)).toBe(true);
    expect(r.code).toBe(0);
    // The 10-40 s of starting are not silent: its own progress, on stderr, line by line.
    expect(r.stderr).toContain("wms up: made the report-key seal key the services of this version use");
    expect(r.stderr).toMatch(/^wms up: starting credentials, pool leases, intake, 1 matchmaker\(s\), agents and monitor in namespace t?up[0-9a-f]+$/m);
    for (const line of r.stderr.trimEnd().split("\n")) expect(line).toMatch(/^wms up: /);
    // For a script: what runs, as one JSON object (the text line is clone-up.heavy.test.ts's).
    const started = JSON.parse(r.stdout) as Record<string, unknown>;
    const s = await wms(["status", "--json"]);
    const status = JSON.parse(s.stdout) as { running: boolean; namespace: string; monitorUrl: string; supervisor: { pid: number }; logFile: string; children: Array<{ name: string; state: string; alive: boolean }> };
    expect(status.running).toBe(true);
    expect(started).toEqual({ pid: status.supervisor.pid, namespace: status.namespace, monitorUrl: status.monitorUrl, logFile: status.logFile });
    expect(status.children.map((c) => [c.name, c.state, c.alive])).toEqual(["credentials", "pool-leases", "intake", "matchmaker-1", "agents", "monitor", "factory"].map((n) => [n, "running", true]));
    if (testAuth()) {
      // Each service runs as its own role on the run's servers; the factory hands its pilots the pilot's.
      const secrets = path.join(dir, ".wms", "secrets");
      const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      for (const c of readUpState(dir)?.children ?? []) expect(environ(c.pid as number), c.name).toContain(`WMS_IDENTITY_FILE=${path.join(secrets, c.name.replace(/-\d+$/, ""), "identity.yaml")}`);
      expect(readUpState(dir)?.cliIdentityFile).toBe(path.join(secrets, "operator", "identity.yaml"));
    }
    // Whether the services are secured is said, not left to guess: one user per role (the run's
    // secrets), or servers used as they are (shared mode), in wms status and in up's log alike.
    const access = servicesAccess(testAuth());
    expect((await wms(["status"])).stdout).toContain(`\n            ${access}\n`);
    if (!testAuth()) expect(readFileSync(path.join(dir, ".wms", "up", "up.log"), "utf8")).toContain(access);
    expect((await fetch(`${status.monitorUrl}/metrics`)).status).toBe(200);
    // Each service's start line says how it stops: through wms down, not a Ctrl-C of its own.
    const log = readFileSync(path.join(dir, ".wms", "up", "up.log"), "utf8");
    expect(log).toContain("run by 'wms up --detach': ");
    expect(log).not.toContain("Ctrl-C stops the factory");
    expect(log).not.toContain("Ctrl-C stops it");
  }, 300_000);

  it("restarts a service that dies, and the log says so", async () => {
    const before = readUpState(dir)?.children.find((c) => c.name === "matchmaker-1");
    expect(before?.pid).toBeGreaterThan(0);
    process.kill(before?.pid as number, "SIGKILL");
    await expect
      .poll(() => readUpState(dir)?.children.find((c) => c.name === "matchmaker-1"), { timeout: 90_000, interval: 500 })
      .toMatchObject({ state: "running", restarts: 1 });
    expect(readUpState(dir)?.children.find((c) => c.name === "matchmaker-1")?.pid).not.toBe(before?.pid);
    const log = readFileSync(path.join(dir, ".wms", "up", "up.log"), "utf8");
    expect(log).toMatch(/"msg":"matchmaker-1 exited \(signal SIGKILL\) after [\d.]+ s; restarting in 1\.0 s \(restart 1\)"/);
  }, 120_000);

  it("runs the simple example task to finished, its output where the file says", async () => {
    const cert = ["--cert", "pki/users/production.cert.pem", "--key", "pki/users/production.key.pem"];
    const sub = await wms(["task", "submit", "tasks/simple-job.yaml", ...cert]);
    expect(sub.code, sub.stderr).toBe(0);
    const taskId = sub.stdout.trim();
    const w = await wms(["task", "status", taskId, "--watch", "--json", "--interval", "0.5"], 180_000);
    const final = JSON.parse(w.stdout.trim().split("\n").pop() as string) as { task: { status: string }; counts: { finished: number }; failedJobs: unknown[] };
    expect(final.failedJobs).toEqual([]);
    expect(final.counts.finished).toBe(1);
    const jobId = `${taskId}.000000`;
    const found = ["SITE_A", "SITE_B"].map((s) => path.join(dir, "storage", s, "examples.simple.out", jobId, "hello.txt")).filter((p) => existsSync(p));
    expect(found).toHaveLength(1);
    expect(readFileSync(found[0], "utf8")).toMatch(new RegExp(`^hello from SITE_[AB], job ${jobId.replace(".", "\\.")}\n\\s*\\d+ /`));
  }, 240_000);

  it("runs the chained example on the files the data-local example wrote, accepted while that task runs (open)", async () => {
    const cert = ["--cert", "pki/users/production.cert.pem", "--key", "pki/users/production.key.pem"];
    const first = await wms(["task", "submit", "tasks/data-local-job.yaml", ...cert]);
    expect(first.code, first.stderr).toBe(0);
    const producer = first.stdout.trim();
    const second = await wms(["task", "submit", "tasks/chained-task.yaml", ...cert]);
    expect(second.code, second.stderr).toBe(0);
    // Unless the first task already finished in between, the consumer is open, waiting for its outputs.
    if (second.stderr.includes("open:")) expect(second.stderr).toContain(`open: more jobs as the outputs of ${producer} are registered`);
    const w1 = await wms(["task", "status", producer, "--watch", "--json", "--interval", "0.5"], 180_000);
    expect((JSON.parse(w1.stdout.trim().split("\n").pop() as string) as { task: { status: string } }).task.status).toBe("done");
    const consumer = second.stdout.trim();
    const w2 = await wms(["task", "status", consumer, "--watch", "--json", "--interval", "0.5"], 180_000);
    const final = JSON.parse(w2.stdout.trim().split("\n").pop() as string) as { task: { status: string }; failedJobs: unknown[] };
    expect(final.failedJobs).toEqual([]);
    expect(final.task.status).toBe("done");
    // Each merge job ran at the site holding the summaries it read: every line it wrote is a summary
    // line of the first task written at that site, and all four summaries were read.
    let lines = 0;
    for (const job of [`${consumer}.000000`, `${consumer}.000001`]) {
      const merged = ["SITE_A", "SITE_B"].map((s) => ({ s, p: path.join(dir, "storage", s, "examples.merged.out", job, "merged.txt") })).filter((m) => existsSync(m.p));
      expect(merged).toHaveLength(1);
      const heads = readFileSync(merged[0].p, "utf8").split("\n").filter((l) => l.startsWith(`${producer} `));
      for (const l of heads) expect(l).toMatch(new RegExp(` at ${merged[0].s}$`));
      lines += heads.length;
    }
    expect(lines).toBe(4);
  }, 420_000);

  it("wms down stops every process it started, pilots included, and leaves no state and no temporary folder", async () => {
    const state = readUpState(dir);
    expect(state).toBeDefined();
    everything = [state?.supervisor as ProcessRef, ...(state?.children ?? []).map((c) => ({ pid: c.pid as number, startTicks: c.startTicks })), ...livePilots(path.join(dir, ".wms", "pilots"))];
    const r = await wms(["down"], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^stopped 7 process\(es\) for /);
    for (const p of everything) expect(isAlive(p), `pid ${p.pid}`).toBe(false);
    expect(readUpState(dir)).toBeUndefined();
    expect(state?.tempDir).toBeUndefined(); // the configured services answered: nothing private was started
    const s = await wms(["status"]);
    expect(s.stdout).toMatch(/^nothing runs for /);
    const again = await wms(["down"]);
    expect([again.code, again.stdout]).toEqual([0, `nothing runs for ${dir}\n`]);
  }, 180_000);
});
