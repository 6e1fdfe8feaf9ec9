// `wms replica`, `wms task` and `wms intake serve` as a user runs them: child processes against the
// real NATS and Redis, one namespace, one PKI and one config file of their own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { ERR } from "../../schemas/index.ts";
import { initPki, issueCertificate } from "../../security/index.ts";
import { adler32 } from "../../platform/checksums.ts";
import { createHash } from "node:crypto";
import { REPO_ROOT, runCli, WMS_BIN } from "../support/run-cli.ts";
import { uniqueNamespace } from "../support/namespace.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { openRedisAs } from "../support/live-services.ts";
import { roleEnv } from "../support/test-roles.ts";
import { loadConfig } from "../../platform/config.ts";

const dir = mkdtempSync(join(tmpdir(), "wms-intake-cli-"));
const ns = uniqueNamespace("intakecli");
const configPath = join(dir, "wms.yaml");
// Cleans up as the agents would: any service role may delete the namespace's keys.
const redis = openRedisAs(loadConfig({ env: { ...(process.env as Record<string, string>), WMS_CONFIG: undefined, WMS_NAMESPACE: ns } }), "agents");
let serve: ChildProcess | undefined;

const paths = {
  pki: join(dir, "pki"),
  cern: join(dir, "storage", "CERN"),
  bnl: join(dir, "storage", "BNL"),
};
const person = (name: string) => ({ cert: join(dir, `${name}.cert.pem`), key: join(dir, `${name}.key.pem`) });
const paula = person("paula");
const bob = person("bob");

function wms(args: string[]) {
  // An operator's or data manager's `wms`.
  return runCli(["--config", configPath, ...args], { env: { ...roleEnv("operator"), WMS_CONFIG: undefined, WMS_NAMESPACE: undefined }, timeoutMs: 90_000 });
}

beforeAll(async () => {
  initPki(paths.pki, { vo: "atlas" });
  for (const [p, cn, roles] of [[paula, "Paula Prod", ["production"]], [bob, "Bob User", ["user"]]] as const) {
    const c = issueCertificate({ caDir: paths.pki, kind: "user", dn: `/DC=org/DC=pilot-wms/OU=atlas/CN=${cn}`, roles: [...roles], days: 1 });
    writeFileSync(p.cert, c.certPem);
    writeFileSync(p.key, c.keyPem, { mode: 0o600 });
  }
  for (let i = 0; i < 3; i++) {
    const f = join(paths.cern, "data.raw", `run${i}.dat`);
    mkdirSync(join(paths.cern, "data.raw"), { recursive: true });
    writeFileSync(f, `event data ${i}\n`.repeat(100 + i));
  }
  const sites = {
    schemaVersion: 1,
    sites: [
      { name: "CERN", storagePath: paths.cern, capacity: 100 },
      { name: "BNL", storagePath: paths.bnl, capacity: 100 },
    ],
  };
  writeFileSync(join(dir, "sites.yaml"), stringify(sites));
  writeFileSync(configPath, stringify({ namespace: ns, pki: { dir: paths.pki }, sitesFile: join(dir, "sites.yaml"), logLevel: "info" }));
  serve = spawn(process.execPath, [WMS_BIN, "--config", configPath, "intake", "serve"], { cwd: REPO_ROOT, env: { ...process.env, ...roleEnv("intake"), WMS_CONFIG: undefined, WMS_NAMESPACE: undefined }, stdio: ["ignore", "ignore", "pipe"] });
  await new Promise<void>((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`intake did not start: ${err}`)), 60_000);
    serve?.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes("intake serving")) {
        clearTimeout(timer);
        resolve();
      }
    });
    serve?.on("exit", (code) => reject(new Error(`intake exited ${code}: ${err}`)));
  });
}, 90_000);

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    const exited = new Promise((r) => serve?.on("exit", r));
    serve.kill("SIGTERM");
    await exited;
  }
  await deleteNamespaceKeys(redis, ns);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

describe("wms replica / task / intake", () => {
  it("registers a site's files with checksums computed from the directory, lfns relative to the site storage", async () => {
    const r = await wms(["replica", "add", "data.raw", "--site", "CERN", "--from-dir", join(paths.cern, "data.raw")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const list = await wms(["replica", "list", "data.raw", "--json"]);
    const body = Buffer.from("event data 1\n".repeat(101));
    expect(JSON.parse(list.stdout).files[1]).toEqual({ lfn: "data.raw/run1.dat", size: body.length, adler32: adler32(body), md5: createHash("md5").update(body).digest("hex"), sites: ["CERN"] });
  }, 120_000);

  it("registers files given on the command line and refuses a malformed one or an unknown site with one line", async () => {
    expect((await wms(["replica", "add", "data.raw", "--site", "BNL", "--file", `data.raw/run0.dat:1300:${"0".repeat(8)}:${"0".repeat(32)}`])).code).toBe(1);
    const bad = await wms(["replica", "add", "mc.x", "--site", "BNL", "--file", "x.root:12:zz:00"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^wms: error E1008 USAGE: .*adler32 'zz'/)]);
    const unknown = await wms(["replica", "add", "mc.x", "--site", "NOWHERE", "--file", `x.root:12:${"0".repeat(8)}:${"0".repeat(32)}`]);
    expect(unknown.stderr).toMatch(/^wms: error E1005 NOT_FOUND: .*site NOWHERE is not in the site config/);
    const ok = await wms(["replica", "add", "mc.x", "--site", "BNL", "--file", `mc/x.root:12:0000000A:${"0".repeat(32)}`, "--json"]);
    expect(JSON.parse(ok.stdout)).toMatchObject({ dataset: "mc.x", files: [{ lfn: "mc/x.root", adler32: "0000000a" }] });
  }, 120_000);

  it("bulk-loads a catalog file and lists the datasets", async () => {
    const file = join(dir, "catalog.yaml");
    writeFileSync(file, stringify({ schemaVersion: 1, datasets: [{ name: "mc.nowhere", files: [{ lfn: "mc/n1", size: 1, adler32: "00000001", md5: "0".repeat(32), sites: [] }] }] }));
    const r = await wms(["replica", "load", file]);
    expect(r.stdout).toContain("loaded 1 dataset(s), 1 file(s), 0 replica(s)");
    expect(JSON.parse((await wms(["replica", "list", "--json"])).stdout)).toEqual(["data.raw", "mc.nowhere", "mc.x"]);
  }, 120_000);

  it("refuses a submit where no intake runs in one line with its code, telling a newcomer to start the deployment", async () => {
    const batch = join(dir, "nointake.yaml");
    writeFileSync(batch, stringify({ schemaVersion: 1, taskName: "reco.nointake", kind: "production", vo: "atlas", inputDatasets: ["data.raw"], outputDataset: "reco.nointake.out", jobTemplate: { executable: "/bin/true" } }));
    const r = await wms(["--namespace", uniqueNamespace("nointake"), "task", "submit", batch, "--cert", paula.cert, "--key", paula.key]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/^wms: error E1003 SERVICE_UNAVAILABLE: .*no intake answers on .*; start the deployment with 'wms up'/)]);
  }, 120_000);

  it("submits a signed task, shows its status and lists it", async () => {
    const batch = join(dir, "task.yaml");
    writeFileSync(batch, stringify({ schemaVersion: 1, taskName: "reco.raw", kind: "production", vo: "atlas", inputDatasets: ["data.raw", "mc.nowhere"], outputDataset: "reco.out", jobTemplate: { executable: "/bin/cat", arguments: ["run.dat"] } }));
    // No credential cache runs here: the intake cannot check Paula's credential, so it refuses the
    // task, unless she asks only to be warned.
    const unchecked = await wms(["task", "submit", batch, "--cert", paula.cert, "--key", paula.key]);
    expect(unchecked.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/^wms: error E1003 SERVICE_UNAVAILABLE: .*credential cache/)]);
    expect(unchecked.code).toBe(1);
    const r = await wms(["task", "submit", batch, "--cert", paula.cert, "--key", paula.key, "--json", "--no-proxy-check"]);
    expect(r.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/^wms: warning: E1003 SERVICE_UNAVAILABLE: .*accepted/)]);
    const reply = JSON.parse(r.stdout);
    expect(reply).toMatchObject({ status: "ok", jobs: 4, queued: 3, unbrokered: 1, sites: { CERN: 3 } });
    const status = JSON.parse((await wms(["task", "status", reply.taskId, "--json"])).stdout);
    expect(status.task).toMatchObject({ taskId: reply.taskId, ownerDn: "/DC=org/DC=pilot-wms/OU=atlas/CN=Paula Prod", status: "active" });
    expect(status.counts).toMatchObject({ activated: 3, failed: 1 });
    expect(status.failedJobs).toEqual([expect.objectContaining({ code: ERR.INTAKE_NO_REPLICA, name: "INTAKE_NO_REPLICA", message: expect.stringContaining("mc/n1") })]);
    expect(JSON.parse((await wms(["task", "list", "--json"])).stdout).map((t: { taskId: string }) => t.taskId)).toContain(reply.taskId);

    // The same file again is refused in one line naming the first task; --allow-duplicate takes it.
    const dup = await wms(["task", "submit", batch, "--cert", paula.cert, "--key", paula.key, "--no-proxy-check"]);
    expect(dup.code).toBe(1);
    expect(dup.stderr.trimEnd().split("\n").at(-1)).toMatch(new RegExp(`^wms: error E1607 INTAKE_DUPLICATE_TASK: .*task ${reply.taskId} named reco\\.raw`));
    const allowed = await wms(["task", "submit", batch, "--cert", paula.cert, "--key", paula.key, "--no-proxy-check", "--allow-duplicate", "--json"]);
    expect(allowed.code, allowed.stderr).toBe(0);
    await wms(["task", "cancel", JSON.parse(allowed.stdout).taskId, "--cert", paula.cert, "--key", paula.key]);

    // Bob may not cancel Paula's task; Paula may. Then --watch returns at once: the task is final.
    const refused = await wms(["task", "cancel", reply.taskId, "--cert", bob.cert, "--key", bob.key]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^wms: error E1604 INTAKE_NOT_OWNER/);
    const cancelled = await wms(["task", "cancel", reply.taskId, "--cert", paula.cert, "--key", paula.key]);
    expect(cancelled.stdout).toContain("3 job(s) cancelled");
    const watched = await wms(["task", "status", reply.taskId, "--watch", "--interval", "0.2"]);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain("— aborted");
    expect(watched.stdout).toMatch(/failed jobs:\n {2}\S+\.000003 {2}E1600 INTAKE_NO_REPLICA {2}no site holds input file mc\/n1/);
    // A script asks how it ended: the aborted task is not done (exit 3), where the watch itself worked.
    const scripted = await wms(["task", "status", reply.taskId, "--watch", "--exit-status", "--json", "--interval", "0.2"]);
    expect(scripted.code).toBe(3);
    expect(JSON.parse(scripted.stdout.trimEnd().split("\n").at(-1)!).task.status).toBe("aborted");
    expect((await wms(["task", "status", reply.taskId, "--exit-status"])).stderr).toMatch(/^wms: error E1008 USAGE: .*--exit-status needs --watch/);
  }, 180_000);

  it("signs with the production certificate wms init writes when --cert and --key are not given", async () => {
    // No users/ in this PKI folder yet: one usage line saying what to give, nothing sent.
    const none = await wms(["task", "retry", "T404"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^wms: error E1008 USAGE: .*give --cert and --key: .*users\/production\.cert\.pem/);
    const half = await wms(["task", "retry", "T404", "--cert", paula.cert]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/^wms: error E1008 USAGE: .*give --cert and --key together/);
    // Where wms init puts the production manager's: the request is signed and reaches the intake.
    mkdirSync(join(paths.pki, "users"), { recursive: true });
    writeFileSync(join(paths.pki, "users", "production.cert.pem"), readFileSync(paula.cert));
    writeFileSync(join(paths.pki, "users", "production.key.pem"), readFileSync(paula.key), { mode: 0o600 });
    try {
      const sent = await wms(["task", "retry", "T404"]);
      expect(sent.stderr).toMatch(/^wms: error E1005 NOT_FOUND: .*no task T404/);
      expect(sent.code).toBe(1);
    } finally {
      rmSync(join(paths.pki, "users"), { recursive: true, force: true });
    }
  }, 120_000);

  it("refuses a production task from a user without the role, and a task file that does not match its schema", async () => {
    const batch = join(dir, "task2.yaml");
    writeFileSync(batch, stringify({ schemaVersion: 1, taskName: "sneaky", kind: "production", vo: "atlas", inputDatasets: ["data.raw"], outputDataset: "o", jobTemplate: { executable: "/bin/true" } }));
    const r = await wms(["task", "submit", batch, "--cert", bob.cert, "--key", bob.key]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^wms: error E1603 INTAKE_ROLE_REFUSED: .*production/);
    writeFileSync(batch, stringify({ schemaVersion: 1, taskName: "bad name with spaces", vo: "atlas", inputDatasets: ["data.raw"], outputDataset: "o", jobTemplate: { executable: "/bin/true" } }));
    const bad = await wms(["task", "submit", batch, "--cert", bob.cert, "--key", bob.key]);
    expect(bad.stderr).toMatch(/^wms: error E1001 BAD_INPUT: .*task2\.yaml: .*taskName/);
    expect((await wms(["task", "status", "T424242"])).stderr).toMatch(/^wms: error E1005 NOT_FOUND/);
  }, 120_000);
});
