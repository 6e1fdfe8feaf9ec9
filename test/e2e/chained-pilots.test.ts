// Chained tasks end to end, with real `wms pilot` processes, the real intake (and its open-task
// planner), matchmaker, credential cache and job-state agent: a second task reads the first's output
// while the first still runs. Its first jobs run BEFORE the first task is done (one of the first
// task's jobs is held at a gate the test opens only after them), every file the first task writes
// is read by exactly one job of the second, and the second closes and ends done once the first has.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startIntake, type IntakeService } from "../../matchmaker/intake-service.ts";
import { ReplicaCatalogStore, TaskClient } from "../../matchmaker/index.ts";
import { openNats, openRedis } from "../../platform/connections.ts";
import type { RedisClient } from "../../platform/redis-client.ts";
import { adler32 } from "../../platform/checksums.ts";
import { createLogger } from "../../platform/logger.ts";
import { TaskBatch, type SubmitAccepted } from "../../schemas/index.ts";
import { issueCertificate, loadTrust, pkiSealKeys, signTaskBatch } from "../../security/index.ts";
import { quickTimings, startPilotStage, type PilotStage } from "../support/pilot-stage.ts";
import { runCli } from "../support/run-cli.ts";
import { asRole, roleEnv, serviceUrlEnv } from "../support/test-roles.ts";

const SITE = "CHAIN_SITE";
const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Chained Tasks";
const INPUTS = 5;

let stage: PilotStage;
let intake: IntakeService | undefined;
let intakeNc: NatsConnection | undefined;
let intakeRedis: RedisClient | undefined;
let submitNc: NatsConnection | undefined;

beforeAll(async () => {
  stage = await startPilotStage({
    label: "chained",
    site: SITE,
    userDn: USER_DN,
    pilotMaxEmpty: 100_000,
    config: quickTimings(10),
  });
  // The intake as its own role, as `wms intake serve` runs it: it publishes the stage's sites file and
  // plans the open tasks every 200 ms.
  const config = asRole(stage.loaded, "intake").config;
  intakeNc = await openNats(config, "test-chained-intake");
  intakeRedis = openRedis(config);
  const pkiDir = join(stage.root, "pki");
  intake = await startIntake({ nc: intakeNc, redis: intakeRedis, names: stage.loaded.names, config, trust: loadTrust(pkiDir), dispatch: stage.dispatch, logger: createLogger("chained-intake", "silent"), specSealKeys: pkiSealKeys(pkiDir).jobSpec, openTaskPollMs: 200 });
  submitNc = await openNats(asRole(stage.loaded, "operator").config, "test-chained-user");
}, 120_000);

afterAll(async () => {
  await intake?.stop();
  await intakeNc?.close();
  intakeRedis?.disconnect();
  await submitNc?.close();
  await stage?.stop();
});

/** The input files of the first task, on the site's storage and in the catalog with their checksums. */
async function registerInputs(dataset: string): Promise<void> {
  const files = Array.from({ length: INPUTS }, (_, i) => {
    const lfn = `${dataset}/in${String(i).padStart(3, "0")}.txt`;
    const body = `input ${i}\n`;
    mkdirSync(join(stage.storage, dataset), { recursive: true });
    writeFileSync(join(stage.storage, lfn), body);
    return { lfn, size: Buffer.byteLength(body), adler32: adler32(body), md5: createHash("md5").update(body).digest("hex") };
  });
  await new ReplicaCatalogStore(stage.redis, stage.loaded.names).addFiles(dataset, files, [SITE]);
}

async function submit(over: Record<string, unknown>): Promise<SubmitAccepted> {
  const user = issueCertificate({ caDir: join(stage.root, "pki"), kind: "user", dn: USER_DN, roles: [] });
  const batch = TaskBatch.parse({ schemaVersion: 1, vo: "pilot-wms", kind: "analysis", maxAttempts: 1, jobTemplate: { executable: "/bin/sh", walltimeSec: 120, memoryMb: 200 }, ...over });
  return new TaskClient(submitNc as NatsConnection, stage.loaded.names).submit(signTaskBatch(batch, { certChain: [user.certPem], keyPem: user.keyPem }));
}

const status = async (taskId: string): Promise<string | undefined> => (await stage.store.getTask(taskId))?.status;

describe("a task reading another task's output while it runs (inputRelease: files)", () => {
  it("runs its first jobs before the producer is done, reads every produced file once, and ends done after the producer", async () => {
    await registerInputs("chain.raw");
    const gate = join(stage.root, "gate");
    // Each producer job copies its input to an output of its own; the one reading in004 waits at the gate (60 s at most).
    const produce = [
      'in="$WMS_INPUTS"',
      'case "$in" in *in004.txt) n=0; while [ ! -e "$GATE" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done;; esac',
      'echo "$WMS_JOB_ID produce" >> "$LOG"',
      'cp "$in" "$WMS_OUTPUT_DIR/out-$(basename "$in")"',
    ].join("; ");
    const producer = await submit({ taskName: "chain.produce", inputDatasets: ["chain.raw"], filesPerJob: 1, outputDataset: "chain.mid", jobTemplate: { executable: "/bin/sh", arguments: ["-c", produce], environment: { LOG: stage.executionLog, GATE: gate }, walltimeSec: 120, memoryMb: 200 } });
    expect(producer).toMatchObject({ jobs: INPUTS, queued: INPUTS });
    const consume = ['echo "$WMS_JOB_ID consume" >> "$LOG"', 'cat $WMS_INPUTS > "$WMS_OUTPUT_DIR/merged.txt"'].join("; ");
    const consumer = await submit({ taskName: "chain.consume", inputDatasets: ["chain.mid"], filesPerJob: 2, outputDataset: "chain.merged", jobTemplate: { executable: "/bin/sh", arguments: ["-c", consume], environment: { LOG: stage.executionLog }, walltimeSec: 120, memoryMb: 200 } });
    expect(consumer).toMatchObject({ jobs: 0, waitingFor: [producer.taskId] });

    await stage.spawnPilot("chain-pilot-0");
    await stage.spawnPilot("chain-pilot-1");
    // Four producer outputs make two consumer jobs of two files; both run while the fifth producer job waits.
    await expect.poll(async () => (await stage.store.taskCounts(consumer.taskId)).finished, { timeout: 120_000, interval: 250 }).toBe(2);
    expect(await status(producer.taskId)).toBe("active");
    // Every job it has is finished, but its producer may still write: open, not done.
    expect(await stage.store.getTask(consumer.taskId)).toMatchObject({ status: "active", open: true, njobs: 2 });
    const cli = await runCli(["task", "status", consumer.taskId], { env: { WMS_CONFIG: stage.configFile, ...serviceUrlEnv(), ...roleEnv("operator") } });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(`open: waiting for ${producer.taskId}'s outputs (chain.mid), 4 files consumed`);
    const list = await runCli(["task", "list"], { env: { WMS_CONFIG: stage.configFile, ...serviceUrlEnv(), ...roleEnv("operator") } });
    expect(list.stdout).toMatch(new RegExp(`^${consumer.taskId}\\s+chain\\.consume\\s+analysis\\s+open\\s`, "m"));
    const before = Date.now();

    writeFileSync(gate, "");
    await expect.poll(() => status(producer.taskId), { timeout: 60_000, interval: 250 }).toBe("done");
    await expect.poll(() => status(consumer.taskId), { timeout: 60_000, interval: 250 }).toBe("done");

    const produced = (await new ReplicaCatalogStore(stage.redis, stage.loaded.names).listDataset("chain.mid"))?.map((f) => f.lfn) ?? [];
    expect(produced).toHaveLength(INPUTS);
    const jobs = await stage.store.listJobs(consumer.taskId);
    expect(jobs.map((j) => j.spec.inputFiles.length)).toEqual([2, 2, 1]);
    expect(jobs.flatMap((j) => j.spec.inputFiles.map((f) => f.lfn)).sort()).toEqual([...produced].sort());
    // The first two consumer jobs ended before the gate opened, so before the producer's last job.
    const lastProducerEnd = Math.max(...(await stage.store.listJobs(producer.taskId)).map((j) => j.endedAt ?? Infinity));
    for (const j of jobs.slice(0, 2)) {
      expect(j.endedAt).toBeLessThan(before);
      expect(j.endedAt).toBeLessThan(lastProducerEnd);
    }
    // Each job ran once, and each merged output holds the producer outputs it read.
    const lines = readFileSync(stage.executionLog, "utf8").trim().split("\n");
    expect(lines.filter((l) => l.endsWith(" consume")).sort()).toEqual(jobs.map((j) => `${j.jobId} consume`).sort());
    expect(lines.filter((l) => l.endsWith(" produce"))).toHaveLength(INPUTS);
    for (const j of jobs) {
      const merged = join(stage.storage, "chain.merged", j.jobId, "merged.txt");
      expect(existsSync(merged)).toBe(true);
      expect(readFileSync(merged, "utf8").trim().split("\n")).toHaveLength(j.spec.inputFiles.length);
    }
    const closed = await stage.store.getTask(consumer.taskId);
    expect(closed).toMatchObject({ open: false, njobs: 3 });
    expect(closed?.message).toContain(`${producer.taskId} ended done`);
  }, 240_000);
});
