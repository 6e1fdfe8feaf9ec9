import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { factoryKeys, readFactoryStatus, startFactory, type CycleReport, type RunningFactory } from "../../pilot-factory/index.ts";
import { MAX_PILOTS_PER_MINUTE, SCHEMA_VERSION, type FactoryQueue } from "../../schemas/index.ts";
import { FactoryControlVerifier, issueCertificate } from "../../security/index.ts";
import { BITS, buildPki, type PkiFixture } from "../security/support/pki-fixture.ts";
import { testConfig } from "../support/namespace.ts";
import { openLiveServices, type LiveServices } from "../support/live-services.ts";
import { runCli } from "../support/run-cli.ts";
import { roleEnv } from "../support/test-roles.ts";
import { RecordingTokens, queueKnobs, silentPilot, testRuntime, waitFor } from "./factory-fixture.ts";

const loaded = testConfig("factorytune");
const { names } = loaded;
const ns = names.namespace;
let nc: NatsConnection;
let redis: RedisClient;
let live: LiveServices;
const workDir = mkdtempSync(path.join(os.tmpdir(), "wms-factory-tune-"));
let pki: PkiFixture;
/** `wms` as the operator: the deployment's PKI folder, whose users/operator.*.pem `factory set` signs with by default. */
let asOperator: { env: Record<string, string> };
let operatorCert: string[];

beforeAll(async () => {
  live = await openLiveServices(loaded, "factory-tune-test", { as: "factory" });
  ({ nc, redis } = live);
  pki = buildPki();
  // Where `wms init` puts the local user's operator certificate.
  const operator = issueCertificate({ caDir: pki.dir, keyBits: BITS, kind: "user", dn: "/DC=org/DC=pilot-wms/OU=Operators/CN=tuner", roles: ["operator"] });
  mkdirSync(path.join(pki.dir, "users"), { recursive: true });
  const certPath = path.join(pki.dir, "users", "operator.cert.pem");
  const keyPath = path.join(pki.dir, "users", "operator.key.pem");
  writeFileSync(certPath, operator.certPem);
  writeFileSync(keyPath, operator.keyPem, { mode: 0o600 });
  // An operator's `wms` (its transport identity on authenticated servers) with its certificate.
  asOperator = { env: { ...roleEnv("operator"), WMS_PKI_DIR: pki.dir } };
  operatorCert = ["--cert", certPath, "--key", keyPath];
});

afterAll(async () => {
  await live.close();
  pki?.cleanup();
  rmSync(workDir, { recursive: true, force: true });
});

function start(factoryId: string, queue: FactoryQueue, onCycle?: (r: CycleReport) => void, autoCycle = true): Promise<RunningFactory> {
  return startFactory({
    config: { schemaVersion: SCHEMA_VERSION, factoryId, queues: [queue] },
    nc,
    redis,
    names,
    tokens: new RecordingTokens(redis, names),
    waitingJobs: async () => 1000,
    runtime: testRuntime(loaded),
    workDir,
    pilotCommand: silentPilot,
    autoCycle,
    onCycle,
    control: new FactoryControlVerifier(redis, names, pki.trust),
  });
}

describe("live tuning with `wms factory set`", () => {
  it("changes the rate of the running factory within one cycle, and persists it for the next start", async () => {
    const reports: CycleReport[] = [];
    const q = queueKnobs({ name: "tuned", pilotsPerMinute: 0, cycleSec: 0.25 });
    const f = await start("fac-tune", q, (r) => reports.push(r));
    try {
      await waitFor("two quiet cycles", () => reports.length >= 2);
      expect(reports.every((r) => r.submitted.length === 0)).toBe(true);

      // Signed with the operator certificate in the PKI folder, as `wms init` leaves it.
      const set = await runCli(["--namespace", ns, "factory", "set", "tuned", "pilotsPerMinute=1200", "--factory", "fac-tune", "--json"], asOperator);
      expect(set.stderr).toBe("");
      expect(set.code).toBe(0);
      expect(JSON.parse(set.stdout)).toMatchObject({ factoryId: "fac-tune", queue: "tuned", knobs: { pilotsPerMinute: 1200 }, live: true });
      const publishedBy = Date.now();

      // A cycle already under way may finish with the old knobs; the next one must use the new.
      const after = await waitFor("two cycles after the change", () => {
        const later = reports.filter((r) => r.startedAt >= publishedBy);
        return later.length >= 2 ? later : undefined;
      });
      expect(after[1].knobs.pilotsPerMinute).toBe(1200);
      expect(after[1].submitted.length).toBeGreaterThan(0);
      const status = (await readFactoryStatus(redis, names, "fac-tune")).queues[0];
      expect(status.targetPerMin).toBe(1200);
    } finally {
      await f.stop();
    }
    const restarted = await start("fac-tune", q, undefined, false);
    try {
      expect(restarted.queues()[0].pilotsPerMinute).toBe(1200);
      expect(restarted.queues()[0].cycleSec).toBe(0.25);
    } finally {
      await restarted.stop();
    }
  }, 60_000);

  it("refuses a value outside the queue's bounds (a rate over the maximum too) or an unknown knob with one clear line, and changes nothing", async () => {
    const f = await start("fac-refuse", queueKnobs({ name: "strict", maxPending: 7 }), undefined, false);
    try {
      await f.cycleOnce();
      const [negative, unknown, noQueue, flood] = await Promise.all([
        runCli(["--namespace", ns, "factory", "set", "strict", "maxPending=-1", "--factory", "fac-refuse"], asOperator),
        runCli(["--namespace", ns, "factory", "set", "strict", "colour=blue"], asOperator),
        runCli(["--namespace", ns, "factory", "set", "nosuch", "maxPending=3", "--factory", "fac-refuse"], asOperator),
        runCli(["--namespace", ns, "factory", "set", "strict", `pilotsPerMinute=${MAX_PILOTS_PER_MINUTE + 1}`, "--factory", "fac-refuse"], asOperator),
      ]);
      // A value no queue may have, like a malformed command line, is a usage error: exit 2, nothing sent.
      expect(negative.code).toBe(2);
      expect(negative.stderr).toMatch(/^wms: error E1008 USAGE: .*maxPending must be >= 0\n$/);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/^wms: error E1008 USAGE: .*'colour' is not a tunable knob/);
      expect(noQueue.code).toBe(1);
      expect(noQueue.stderr).toMatch(/^wms: error E1005 NOT_FOUND: .*nosuch/);
      // Over the maximum rate: refused naming the limit, in one line.
      expect(flood.code).toBe(2);
      expect(flood.stderr).toMatch(new RegExp(`^wms: error E1008 USAGE: .*pilotsPerMinute.*${MAX_PILOTS_PER_MINUTE}\n$`));
      expect(f.queues()[0].pilotsPerMinute).toBe(queueKnobs().pilotsPerMinute);
      expect(await redis.exists(factoryKeys(names, "fac-refuse").queue("strict").knobs)).toBe(0);
      expect(f.queues()[0].maxPending).toBe(7);
    } finally {
      await f.stop();
    }
  }, 60_000);

  it("refuses a change signed by a user who is not an operator (E1723, one line from the factory) and one without a certificate, and changes nothing", async () => {
    const f = await start("fac-notop", queueKnobs({ name: "guarded", pilotsPerMinute: 60 }), undefined, false);
    try {
      await f.cycleOnce();
      const userCert = path.join(workDir, "production.cert.pem");
      const userKey = path.join(workDir, "production.key.pem");
      writeFileSync(userCert, pki.user.certPem);
      writeFileSync(userKey, pki.user.keyPem, { mode: 0o600 });
      const [notOperator, noCert] = await Promise.all([
        runCli(["--namespace", ns, "factory", "set", "guarded", "pilotsPerMinute=0", "--factory", "fac-notop", "--cert", userCert, "--key", userKey], asOperator),
        runCli(["--namespace", ns, "factory", "set", "guarded", "pilotsPerMinute=0", "--factory", "fac-notop"], { env: { ...roleEnv("operator"), WMS_PKI_DIR: path.join(workDir, "no-pki") } }),
      ]);
      expect(notOperator.code).toBe(1);
      expect(notOperator.stderr).toMatch(/^wms: error E1723 SEC_NOT_OPERATOR: .*Jane Doe holds no operator role.*\n$/);
      expect(noCert.code).toBe(1);
      expect(noCert.stderr).toMatch(/^wms: error E1007 FILE_UNREADABLE: .*--cert .*no-pki\/users\/operator\.cert\.pem: no such file \(ENOENT\)\n$/);
      expect(f.queues()[0].pilotsPerMinute).toBe(60);
      expect(await redis.exists(factoryKeys(names, "fac-notop").queue("guarded").knobs)).toBe(0);
    } finally {
      await f.stop();
    }
  }, 60_000);

  it("writes the whole live state into the factory's YAML file when given --factory-file, keeping the rest of the file", async () => {
    const file = path.join(workDir, "factory.yaml");
    writeFileSync(file, "# operator notes stay\nfactoryId: fac-yaml\nqueues:\n  - name: fromfile\n    site: SITE_A\n    maxPending: 4      # small site\n");
    // An earlier change, made while the factory ran without naming the file, is part of the live
    // state the file must now carry: the running factory shows it in its status.
    const running = await start("fac-yaml", queueKnobs({ name: "fromfile", maxPending: 4 }), undefined, false);
    try {
      await running.cycleOnce();
      const earlier = await runCli(["--namespace", ns, "factory", "set", "fromfile", "maxPending=9", "--factory", "fac-yaml", ...operatorCert], asOperator);
      expect(earlier.code).toBe(0);
      await waitFor("the change applied", () => running.queues()[0].maxPending === 9 || undefined);
      await running.cycleOnce();
    } finally {
      await running.stop();
    }
    // No factory runs now: the signed change is kept for its next start, which verifies it again.
    const r = await runCli(["--namespace", ns, "factory", "set", "fromfile", "targetIdle=1", "--factory-file", file, ...operatorCert], asOperator);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("no running factory answered");
    const text = readFileSync(file, "utf8");
    expect(text).toContain("# operator notes stay");
    expect(text).toContain("    maxPending: 9      # small site\n    targetIdle: 1\n");
    expect(parseYaml(text)).toMatchObject({ factoryId: "fac-yaml", queues: [{ name: "fromfile", maxPending: 9, targetIdle: 1 }] });
    const f = await start("fac-yaml", queueKnobs({ name: "fromfile", maxPending: 4 }), undefined, false);
    try {
      expect(f.queues()[0]).toMatchObject({ maxPending: 9, targetIdle: 1 });
    } finally {
      await f.stop();
    }
  }, 60_000);
});
