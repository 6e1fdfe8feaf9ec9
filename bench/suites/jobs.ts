// The job store's transitions per second (the fenced, counted Lua step every state report, claim
// and lease event goes through) against a Redis EVALSHA of a no-op script in the same run: the
// ratio says how much of Redis's per-script floor the life cycle's bookkeeping costs.
import { randomBytes } from "node:crypto";
import { loadConfig } from "../../platform/config.ts";
import { openRedis } from "../../platform/connections.ts";
import { deleteNamespaceKeys } from "../../platform/namespace-cleanup.ts";
import { redisScript } from "../../platform/redis-script.ts";
import { JobStore, LEASED_STATES, PILOT_STATES, type Fence, type JobState } from "../../jobs/index.ts";
import type { JobSpec } from "../../schemas/index.ts";
import type { BenchSuite } from "./suite.ts";

const JOBS = 5000;
const WINDOW = 200;

function spec(taskId: string, i: number): JobSpec {
  return {
    schemaVersion: 1, jobId: `${taskId}.${String(i).padStart(6, "0")}`, taskId, taskName: "bench", kind: "production", vo: "atlas", group: "prod",
    userDn: "/DC=org/CN=Bench", priority: 0, site: `SITE_${i % 10}`, executable: "/bin/true", arguments: [], environment: {}, requirements: "true", rank: "0",
    cores: 1, memoryMb: 1000, walltimeSec: 600, inputFiles: [], outputDataset: "out", attempt: 1, maxAttempts: 3,
  };
}

async function inWindows(n: number, one: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i += WINDOW) await Promise.all(Array.from({ length: Math.min(WINDOW, n - i) }, (_, k) => one(i + k)));
  return n / ((performance.now() - t0) / 1000);
}

export const jobsSuite: BenchSuite = {
  key: "jobs",
  async run() {
    const ns = `benchjobs${randomBytes(4).toString("hex")}`;
    const { config, names } = loadConfig({ overrides: { namespace: ns } });
    const redis = openRedis(config);
    try {
      const store = new JobStore(redis, names);
      const taskId = "TB";
      const specs = Array.from({ length: JOBS }, (_, i) => spec(taskId, i));
      await store.createTask({ taskId, taskName: "bench", kind: "production", vo: "atlas", group: "prod", ownerDn: "/DC=org/CN=Bench", priority: 0, maxAttempts: 3, outputDataset: "out" }, specs.map((s) => ({ spec: s, state: "activated" as const })));
      const fences = specs.map((s, i): Fence => ({ attempt: 1, leaseToken: `bench-lease-${i}-${randomBytes(6).toString("hex")}`, pilotId: `pilot-${i % 50}` }));
      const noop = redisScript("return 1");
      await noop.run(redis, [names.redisKey("bench", "noop")], []);
      // The baseline, then the four moves a job's life makes after its claim (each fenced as a
      // pilot's update is), then the baseline again: the machine's load drifts during a run.
      const base1 = await inWindows(JOBS, () => noop.run(redis, [names.redisKey("bench", "noop")], []));
      const now = Date.now();
      const claims = await inWindows(JOBS, (i) => store.transition(specs[i].jobId, "sent", ["activated"], { pilotId: fences[i].pilotId, leaseToken: fences[i].leaseToken }, now, taskId));
      const t0 = performance.now();
      const moves: ReadonlyArray<readonly [JobState, readonly JobState[]]> = [["running", ["sent", "starting"]], ["holding", LEASED_STATES], ["finished", PILOT_STATES]];
      let done = 0;
      for (const [to, from] of moves) {
        await inWindows(JOBS, async (i) => {
          const t = await store.transition(specs[i].jobId, to, from, {}, now, taskId, undefined, fences[i]);
          if (t.moved) done++;
        });
      }
      const fenced = (3 * JOBS) / ((performance.now() - t0) / 1000);
      const base2 = await inWindows(JOBS, () => noop.run(redis, [names.redisKey("bench", "noop")], []));
      const baseline = (base1 + base2) / 2;
      const transitionsPerSec = (claims + 3 * fenced) / 4;
      if (done !== 3 * JOBS) throw new Error(`only ${done} of ${3 * JOBS} fenced moves applied`);
      return {
        transitionsPerSec: Math.round(transitionsPerSec),
        claimTransitionsPerSec: Math.round(claims),
        fencedTransitionsPerSec: Math.round(fenced),
        evalshaNoopPerSec: Math.round(baseline),
        transitionToNoopRatio: Math.round((transitionsPerSec / baseline) * 1000) / 1000,
      };
    } finally {
      await deleteNamespaceKeys(redis, names.namespace);
      redis.disconnect();
    }
  },
};
