// The intake's acceptance rate: a signed 10,000-job task over NATS, verified, brokered over a
// 10,000-file dataset held at three sites, recorded and queued. Baseline, in the same process and on
// the same Redis: BullMQ's own addBulk of the same 10,000 job specs into one queue with priorities —
// the floor any "queue 10,000 jobs" path pays, with no records, no brokerage and no signature.
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { loadConfig } from "../../platform/config.ts";
import { openNats, openRedis } from "../../platform/connections.ts";
import { createLogger } from "../../platform/logger.ts";
import { deleteNamespaceKeys } from "../../platform/namespace-cleanup.ts";
import { TaskBatch, type JobSpec } from "../../schemas/index.ts";
import { initPki, issueCertificate, loadTrust, signTaskBatch, pkiSealKeys } from "../../security/index.ts";
import { ReplicaCatalogStore, SiteRegistry, startIntake, TaskClient } from "../../matchmaker/index.ts";
import { bullPriority, DispatchQueues, JobStore } from "../../jobs/index.ts";
import type { BenchSuite } from "./suite.ts";

const JOBS = 10_000;
const RUNS = 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const intakeSuite: BenchSuite = {
  key: "intake",
  async run() {
    const ns = `bintake${randomBytes(4).toString("hex")}`;
    const { config, names } = loadConfig({ overrides: { namespace: ns } });
    const pkiDir = mkdtempSync(join(tmpdir(), "wms-bench-intake-"));
    const nc = await openNats(config, "bench-intake");
    const redis = openRedis(config);
    // BullMQ's own connection, for the baseline only: the queues of the system under test run on `redis`.
    const bull = openRedis(config, { forBullMq: true });
    const dispatch = new DispatchQueues({ redis, names, lockMs: 60_000, stalledIntervalMs: 60_000 });
    try {
      initPki(pkiDir, { vo: "atlas" });
      const dn = "/DC=org/DC=pilot-wms/OU=atlas/CN=Bench Production";
      const cert = issueCertificate({ caDir: pkiDir, kind: "user", dn, roles: ["production"], days: 1 });
      const signer = { certChain: [cert.certPem], keyPem: cert.keyPem };
      await new SiteRegistry(redis, names).publish({
        schemaVersion: 1,
        sites: ["CERN", "BNL", "TRIUMF"].map((name) => ({ name, storagePath: `/s/${name}`, online: true, identitySwitch: "off" as const, capacity: 1000, softwareTags: [], authz: [], mapping: [] })),
      });
      const files = Array.from({ length: JOBS }, (_, i) => ({ lfn: `bench/f${i}`, size: 1000, adler32: "00000001", md5: "0".repeat(32) }));
      await new ReplicaCatalogStore(redis, names).addFiles("bench.ds", files, ["CERN", "BNL", "TRIUMF"]);
      const intake = await startIntake({ nc, redis, names, config, trust: loadTrust(pkiDir), dispatch, logger: createLogger("bench-intake", "silent"), specSealKeys: pkiSealKeys(pkiDir).jobSpec });
      const client = new TaskClient(nc, names, 300_000);
      const batch = (maxJobs: number) => TaskBatch.parse({ schemaVersion: 1, taskName: "bench", allowDuplicate: true, vo: "atlas", priority: 100, inputDatasets: ["bench.ds"], maxJobs, outputDataset: "o", jobTemplate: { executable: "/bin/true" } });
      await client.submit(signTaskBatch(batch(100), signer));

      const submitMs: number[] = [];
      let specs: JobSpec[] = [];
      for (let r = 0; r < RUNS; r++) {
        const signed = signTaskBatch(batch(JOBS), signer);
        const t0 = performance.now();
        const reply = await client.submit(signed);
        submitMs.push(performance.now() - t0);
        if (reply.queued !== JOBS) throw new Error(`expected ${JOBS} queued, got ${reply.queued}`);
        if (r === 0) specs = (await new JobStore(redis, names).listJobs(reply.taskId)).map((j) => j.spec);
      }
      await intake.stop();

      const baselineMs: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const q = new Queue(`baseline${r}`, { connection: bull, prefix: names.bullPrefix, skipVersionCheck: true });
        const t0 = performance.now();
        for (let i = 0; i < specs.length; i += 2000) {
          await q.addBulk(specs.slice(i, i + 2000).map((s) => ({ name: "job", data: s, opts: { jobId: s.jobId, priority: bullPriority(s.priority), removeOnComplete: true } })));
        }
        baselineMs.push(performance.now() - t0);
        await q.close();
      }
      const accepted = JOBS / (median(submitMs) / 1000);
      const baseline = JOBS / (median(baselineMs) / 1000);
      return {
        jobsAcceptedPerSec: Math.round(accepted),
        baselineBullAddBulkJobsPerSec: Math.round(baseline),
        acceptedVsBaselineRatio: Math.round((accepted / baseline) * 100) / 100,
        task10kSubmitMs: Math.round(median(submitMs)),
      };
    } finally {
      await dispatch.close();
      await deleteNamespaceKeys(redis, ns);
      await nc.close();
      redis.disconnect();
      bull.disconnect();
      rmSync(pkiDir, { recursive: true, force: true });
    }
  },
};
