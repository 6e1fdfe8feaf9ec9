// The pilot factory's hot spot is the census: every pilot publishes 3-4 state changes in its life,
// so a factory feeding thousands of pilots takes bursts of census messages. Measured against the
// least any listener must do per message (receive, parse, one Redis write, in order), in the same
// process. The policy is pure arithmetic; its rate is recorded for context.
import { randomBytes } from "node:crypto";
import { loadConfig } from "../../platform/config.ts";
import { openNats, openRedis } from "../../platform/connections.ts";
import { deleteNamespaceKeys } from "../../platform/namespace-cleanup.ts";
import { decideSubmission, initialBucket, startFactory, type PolicyKnobs } from "../../pilot-factory/index.ts";
import { PilotCensus, SCHEMA_VERSION, type FactoryQueue } from "../../schemas/index.ts";
import { secretHash } from "../../security/index.ts";
import { opsPerSec, type BenchSuite } from "./suite.ts";

const PILOTS = 2000;

async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error("census bench: timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const factorySuite: BenchSuite = {
  key: "factory",
  async run() {
    const knobs: PolicyKnobs = { targetIdle: 2, maxPending: 50, maxRunning: 500, maxPerCycle: 20, pilotsPerMinute: 120, cycleSec: 10 };
    let bucket = initialBucket(knobs, 0);
    let t = 0;
    const decisionsPerSec = opsPerSec(() => {
      t += 10;
      const d = decideSubmission(knobs, { waitingJobs: 300, pending: t % 40, idle: t % 3, running: 100 }, bucket, t);
      bucket = d.bucket;
    });

    const namespace = `benchfac${randomBytes(3).toString("hex")}`;
    const { config, names } = loadConfig({ overrides: { namespace } });
    const nc = await openNats(config, "bench-factory");
    const redis = openRedis(config);
    const encoder = new TextEncoder();
    const message = (pilotId: string, state: PilotCensus["state"]): Uint8Array =>
      encoder.encode(JSON.stringify({ schemaVersion: SCHEMA_VERSION, pilotId, site: "SITE_B", state, jobsDone: state === "exited" ? 1 : 0, emptyAdverts: 0, at: Date.now() }));
    try {
      // Baseline: subscribe, parse + validate, one awaited HSET per message, in order.
      const baseSubject = names.redisKey("bench", "census").replace(/:/g, ".");
      const baseKey = names.redisKey("bench", "census");
      let seen = 0;
      const sub = nc.subscribe(baseSubject);
      const consumer = (async () => {
        for await (const m of sub) {
          const msg = PilotCensus.parseJson(m.data);
          await redis.hset(baseKey, msg.pilotId, msg.state);
          seen++;
        }
      })();
      await nc.flush();
      const b0 = performance.now();
      for (let i = 0; i < PILOTS; i++) nc.publish(baseSubject, message(`b${i}`, "running"));
      await waitUntil(async () => seen >= PILOTS, 120_000);
      const baselinePerSec = PILOTS / ((performance.now() - b0) / 1000);
      sub.unsubscribe();
      await consumer;

      // The factory: PILOTS pilots registered pending, then each reports running.
      const queue: FactoryQueue = {
        name: "bench",
        site: "SITE_B",
        adapter: "local",
        targetIdle: 0,
        maxPending: 0,
        maxRunning: 0,
        maxPerCycle: 0,
        pilotsPerMinute: 0,
        cycleSec: 3600,
        pilotLifetimeSec: 3600,
        tokenUses: 1,
        emptyAdvertsLimit: 3,
      };
      const { PilotCensusStore } = await import("../../pilot-factory/index.ts");
      const store = new PilotCensusStore(redis, names, "bench-fac", secretHash);
      const ids = Array.from({ length: PILOTS }, (_, i) => `p${i}`);
      await store.recordSubmitted("bench", "SITE_B", ids, Date.now());
      const factory = await startFactory({
        config: { schemaVersion: SCHEMA_VERSION, factoryId: "bench-fac", queues: [queue] },
        nc,
        redis,
        names,
        tokens: { mint: () => Promise.reject(new Error("the bench submits no pilots")), censusProof: () => "", proofHash: secretHash },
        waitingJobs: async () => 0,
        runtime: { nodePath: process.execPath, wmsBin: "unused", namespace, serviceUrls: { nats: config.nats.url, redis: config.redis.url, rabbitmq: config.rabbitmq.url } },
        workDir: "/tmp",
        autoCycle: false,
      });
      const f0 = performance.now();
      for (const id of ids) nc.publish(names.subjects.pilotCensus, message(id, "running"));
      await waitUntil(async () => (await store.counts("bench", Date.now())).running >= PILOTS, 120_000);
      const censusPerSec = PILOTS / ((performance.now() - f0) / 1000);
      await factory.stop();
      return {
        decisionsPerSec: Math.round(decisionsPerSec),
        censusMsgsPerSec: Math.round(censusPerSec),
        baselineCensusMsgsPerSec: Math.round(baselinePerSec),
        censusVsBaselineRatio: Math.round((censusPerSec / baselinePerSec) * 100) / 100,
      };
    } finally {
      await deleteNamespaceKeys(redis, namespace);
      await nc.close();
      redis.disconnect();
    }
  },
};
