// RabbitMQ redelivers a state report whose consumer died after applying it and before acking it
// (the worst moment: the effect is in Redis, the seen mark and the ack are not). A failure report
// that retried its job comes back after the next attempt was already claimed: it is the same report
// its attempt ended with, so it changes nothing and is not refused as a stale update (no E1904 in
// `wms errors summary`, no dead letter), and the new attempt runs to the end undisturbed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RedisClient } from "../../platform/redis-client.ts";
import { ReportConsumer, ReportPublisher } from "../../agents/reports/index.ts";
import { applyStateReport, sameSiteRebroker, startAgents, type AgentsHandle } from "../../agents/job-state/index.ts";
import { DispatchQueues, JobStore } from "../../jobs/index.ts";
import { ERR, type StateReport } from "../../schemas/index.ts";
import { REPORT_KEY_SEAL_PURPOSE, SealVerifier } from "../../security/index.ts";
import { openRedis } from "../../platform/connections.ts";
import { createLogger } from "../../platform/logger.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole, roleEnv, roleRabbitUrl } from "../support/test-roles.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { runCli } from "../support/run-cli.ts";
import { drainQueue, removeTopology, waitFor } from "./support/rabbit-fixture.ts";
import { stateReport } from "./support/report-factory.ts";
import { claimJob, signedByPilot, submitJobs, testReportKeySealer, testReportKeySeals } from "./support/job-fixture.ts";

const loaded = asRole(testConfig("redeliver"), "agents");
const { config, names } = loaded;
const url = roleRabbitUrl(loaded, "agents");
const logger = createLogger("test", "silent");
const spool = mkdtempSync(join(tmpdir(), "wms-redeliver-"));
const SITE = "SITE_R";
let redis: RedisClient;
let dq: DispatchQueues;
let store: JobStore;
let publisher: ReportPublisher;
let agents: AgentsHandle | undefined;

beforeAll(async () => {
  redis = openRedis(config);
  dq = new DispatchQueues({ redis, names, lockMs: 30_000, stalledIntervalMs: 30_000, reportKeySealer: testReportKeySealer });
  store = new JobStore(redis, names, { reportKeySeals: new SealVerifier(testReportKeySeals, REPORT_KEY_SEAL_PURPOSE) });
  publisher = new ReportPublisher({ url, names, spoolDir: spool, logger });
});

afterAll(async () => {
  await agents?.stop();
  await publisher.close();
  await dq.close();
  await removeTopology(url, names);
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  rmSync(spool, { recursive: true, force: true });
});

function report(jobId: string, taskId: string, pilotId: string, claim: { lockToken: string; attempt: number }, state: StateReport["state"], extra: Partial<StateReport> = {}): StateReport {
  return signedByPilot(stateReport({ jobId, taskId, state, attempt: claim.attempt, lockToken: claim.lockToken, pilotId, site: SITE, ...extra }));
}

describe("a state report redelivered after its consumer died before acking it", () => {
  it("a failure that retried its job, back after the next attempt was claimed: changes nothing, refused as stale nowhere", async () => {
    const [spec] = await submitJobs(store, dq, 1, { site: SITE, maxAttempts: 3 });
    const c1 = await claimJob(store, dq, spec.jobId, "pilot-1");

    // The doomed agent applies the failure (the job goes back to its queue as attempt 2), then dies
    // before its seen mark and ack.
    let applied = false;
    // Never settles: the doomed handler neither marks the report seen nor acks it, as a crash leaves it.
    const hang = new Promise<void>(() => undefined);
    const deps = { jobs: store, dispatch: dq, rebroker: sameSiteRebroker(), logger };
    const doomed = new ReportConsumer({
      url,
      rabbit: config.rabbitmq,
      names,
      redis,
      logger,
      queue: "jobState",
      consumer: "job-state",
      prefetch: 1,
      handle: async (r, ctx) => {
        if (r.kind !== "state") return;
        await applyStateReport(deps, r, ctx);
        applied = true;
        await hang;
      },
    });
    await doomed.start();
    await publisher.publish(report(spec.jobId, spec.taskId, "pilot-1", c1, "failed", { errorCode: ERR.PILOT_KILLED, message: "killed by the batch system" }));
    await waitFor(() => applied, 15_000, "the doomed agent applied the failure");
    expect(await store.getJob(spec.jobId)).toMatchObject({ state: "activated", attempt: 2 });
    // A pilot takes attempt 2 before any agent sees the report again.
    const c2 = await claimJob(store, dq, spec.jobId, "pilot-2");
    await doomed.abort();

    agents = await startAgents({ config, names, redis, dispatch: dq, logger, only: ["job-state"], reportKeySealKeys: testReportKeySeals, queueDepthMs: 0 });
    const state = agents.consumers.state;
    await waitFor(() => state.stats.processed + state.stats.duplicates + state.stats.deadLettered >= 1, 15_000, "the redelivered report handled");
    expect(state.stats.deadLettered).toBe(0);
    expect(await store.getJob(spec.jobId)).toMatchObject({ state: "sent", attempt: 2, pilotId: "pilot-2" });

    // Attempt 2 runs to the end as if nothing happened.
    await publisher.publish(report(spec.jobId, spec.taskId, "pilot-2", c2, "running"));
    await publisher.publish(report(spec.jobId, spec.taskId, "pilot-2", c2, "finished"));
    await waitFor(async () => (await store.getJob(spec.jobId))?.state === "finished", 15_000, "attempt 2 finished");

    // What the user sees: the job finished on its second attempt, the first ended with the pilot's
    // code, and no stale update that no pilot ever sent.
    const env = { ...roleEnv("operator"), WMS_NAMESPACE: names.namespace, WMS_CONFIG: undefined };
    const show = JSON.parse((await runCli(["job", "show", spec.jobId, "--json"], { env })).stdout) as { state: string; attempts: Array<{ attempt: number; pilotId: string; code: number | null }> };
    expect(show.state).toBe("finished");
    expect(show.attempts.map((a) => [a.attempt, a.pilotId, a.code])).toEqual([
      [1, "pilot-1", ERR.PILOT_KILLED],
      [2, "pilot-2", null],
    ]);
    const summary = JSON.parse((await runCli(["errors", "summary", "--json"], { env })).stdout) as Array<{ code: number; jobs: number }>;
    expect(summary.filter((r) => r.code === ERR.JOB_STALE_UPDATE)).toEqual([]);
    expect(state.stats.deadLettered).toBe(0);
    expect(await drainQueue(url, names.rabbit.queues.deadLetter)).toEqual([]);
  });
});
