import { afterAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditLog, UsageStore } from "../../agents/accounting/index.ts";
import { ReportPublisher } from "../../agents/reports/index.ts";
import { JobStore } from "../../jobs/index.ts";
import { ERR } from "../../schemas/index.ts";
import { openRedis } from "../../platform/connections.ts";
import { createLogger } from "../../platform/logger.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole, roleEnv, roleRabbitUrl } from "../support/test-roles.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { REPO_ROOT, runCli, WMS_BIN } from "../support/run-cli.ts";
import { removeTopology, waitFor } from "./support/rabbit-fixture.ts";
import { accountingReport, auditReport } from "./support/report-factory.ts";
import { jobSpec, recordClaimedJob, signedByPilot } from "./support/job-fixture.ts";
import { createSealKeys, openSealer, sealKeysPath } from "../../security/seal-keys.ts";
import { REPORT_KEY_SEAL_PURPOSE } from "../../security/index.ts";

// The agents' identity: they declare the reports topology, consume it and may publish to it (dead
// letters), so the publishers and raw readers here log in as the agents do (pilots may only publish
// into a topology that exists: report-publisher.test.ts checks that with the pilot's identity).
const loaded = asRole(testConfig("repcli"), "agents");
const { config, names } = loaded;
// `wms accounting report` and `wms errors summary` are an operator's commands.
const env = { ...roleEnv("operator"), WMS_NAMESPACE: names.namespace, WMS_CONFIG: undefined };
const redis = openRedis(config);
const spool = mkdtempSync(join(tmpdir(), "wms-repcli-"));

afterAll(async () => {
  await removeTopology(roleRabbitUrl(loaded, "agents"), names).catch(() => undefined);
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  rmSync(spool, { recursive: true, force: true });
});

// Each CLI run starts node + tsx: seconds on a busy 2-core machine, hence the longer timeout.
describe("wms accounting report / errors summary / agents", { timeout: 90_000 }, () => {
  it("prints usage per user and per site, as a table and as JSON", async () => {
    const usage = new UsageStore(redis, names);
    await usage.add(accountingReport({ userDn: "/DC=org/CN=Ann", site: "SITE_X", wallSec: 3600, userCpuSec: 1800, sysCpuSec: 0, maxRssKb: 500 }));
    await usage.add(accountingReport({ userDn: "/DC=org/CN=Ann", site: "SITE_Y", wallSec: 1800, userCpuSec: 900, sysCpuSec: 0, maxRssKb: 900 }));
    await usage.add(accountingReport({ userDn: "/DC=org/CN=Bob", site: "SITE_X", wallSec: 60, userCpuSec: 30, sysCpuSec: 0, maxRssKb: 100 }));
    const json = await runCli(["accounting", "report", "--json"], { env });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      { user: "/DC=org/CN=Ann", jobs: 2, wallSec: 5400, cpuSec: 2700, maxRssKb: 900 },
      { user: "/DC=org/CN=Bob", jobs: 1, wallSec: 60, cpuSec: 30, maxRssKb: 100 },
    ]);
    const table = await runCli(["accounting", "report", "--by", "site"], { env });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^SITE\s+JOBS\s+WALL_H/);
    expect(table.stdout).toMatch(/SITE_X\s+2\s+1\.017/);
    expect(table.stdout).toMatch(/TOTAL\s+3\s+1\.517/);
  });

  it("refuses an unknown --by with one line and its error code", async () => {
    const r = await runCli(["accounting", "report", "--by", "planet"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`E${ERR.USAGE}`);
  });

  it("counts failure codes across tasks with their registry names", async () => {
    const store = new JobStore(redis, names);
    for (const [taskId, codes] of [
      ["TA", [ERR.PAYLOAD_FAILED, ERR.PAYLOAD_FAILED, ERR.RETRY_MAX_ATTEMPTS]],
      ["TB", [ERR.PAYLOAD_FAILED, ERR.INTAKE_NO_REPLICA]],
    ] as const) {
      const jobs = codes.map((code, i) => ({ spec: jobSpec(taskId, i, { site: "SITE_X" }), state: "failed" as const, errorCode: code, errorMessage: "x" }));
      await store.createTask({ taskId, taskName: taskId, kind: "production", vo: "atlas", group: "prod", ownerDn: "/DC=org/CN=Ann", priority: 1, maxAttempts: 3, outputDataset: "o" }, jobs);
    }
    const r = await runCli(["errors", "summary", "--json"], { env });
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ code: number; name: string; jobs: number }>;
    expect(rows.map((x) => [x.code, x.name, x.jobs])).toEqual([
      [ERR.PAYLOAD_FAILED, "PAYLOAD_FAILED", 3],
      [ERR.INTAKE_NO_REPLICA, "INTAKE_NO_REPLICA", 1],
      [ERR.RETRY_MAX_ATTEMPTS, "RETRY_MAX_ATTEMPTS", 1],
    ]);
    const text = await runCli(["errors", "summary"], { env });
    expect(text.stdout).toMatch(/1400\s+PAYLOAD_FAILED\s+3/);
    // Failures, not jobs: a job retried with 'wms task retry' that fails again counts twice.
    expect(text.stdout).toMatch(/^CODE\s+NAME\s+FAILURES\s+MESSAGE\n/);
  });

  it("refuses an unknown agent name", async () => {
    const r = await runCli(["agents", "--only", "janitor"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`E${ERR.USAGE}`);
    expect(r.stderr).toContain("janitor");
  });

  it("runs the agents until SIGTERM, consuming reports meanwhile", async () => {
    // The agents believe a claim's report key only under the deployment's report-key seal, read from their PKI folder.
    const pkiDir = join(spool, "pki");
    createSealKeys(sealKeysPath(pkiDir, REPORT_KEY_SEAL_PURPOSE), REPORT_KEY_SEAL_PURPOSE);
    const sealer = openSealer({ dir: pkiDir }, REPORT_KEY_SEAL_PURPOSE);
    const child = spawn(process.execPath, [WMS_BIN, "agents", "--only", "audit"], { cwd: REPO_ROOT, env: { ...process.env, ...env, ...roleEnv("agents"), WMS_PKI_DIR: pkiDir, WMS_LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number>((r) => child.on("exit", (code) => r(code ?? -1)));
    try {
      const pub = new ReportPublisher({ url: config.rabbitmq.url, rabbit: config.rabbitmq, names, spoolDir: spool, logger: createLogger("test", "silent") });
      // Signed by the pilot that holds the job's attempt: the audit agent stores nothing else.
      const spec = await recordClaimedJob(new JobStore(redis, names), { pilotId: "pilot-1", lockToken: "lease-token-of-test", sealer });
      const rec = signedByPilot(auditReport({ jobId: spec.jobId, attempt: 1, lockToken: "lease-token-of-test" }));
      await pub.publish(rec);
      await pub.close();
      await waitFor(async () => (await auditLog(redis, names).recent(5)).some((r) => r.reportId === rec.reportId), 20_000, "audit record consumed by `wms agents`");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });
});
