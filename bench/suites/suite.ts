import type { JobSpec } from "../../schemas/index.ts";

export interface BenchSuite {
  readonly key: string;
  run(): Promise<Record<string, number | string>>;
}

/** Runs fn repeatedly for about `ms` milliseconds and returns calls per second. */
export function opsPerSec(fn: () => unknown, ms = 1000, batch = 1000): number {
  for (let i = 0; i < batch; i++) fn(); // warm-up so the JIT has seen the path
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

/** A production job as the matchmaking suites queue it: one core, 2000 MB, one catalogued input file; `over` sets the shape. */
export function benchJob(taskId: string, i: number, site: string, over: Partial<JobSpec> = {}): JobSpec {
  return {
    schemaVersion: 1,
    jobId: `${taskId}.${i}`,
    taskId,
    taskName: taskId,
    kind: "production",
    vo: "atlas",
    group: "atlas/prod",
    userDn: "/DC=org/CN=Bench User",
    priority: 100,
    site,
    executable: "/bin/true",
    arguments: ["--events", "1000"],
    environment: {},
    requirements: 'TARGET.OpSys == "LINUX" && TARGET.Memory >= 2000',
    rank: "TARGET.Cpus",
    cores: 1,
    memoryMb: 2000,
    walltimeSec: 3600,
    inputFiles: [{ lfn: `data/${taskId}/${i}.root`, dataset: "bench.ds", size: 1000, adler32: "0a1b2c3d", md5: "0123456789abcdef0123456789abcdef" }],
    outputDataset: "bench.out",
    attempt: 1,
    maxAttempts: 3,
    ...over,
  };
}
