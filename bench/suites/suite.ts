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
