// What the demo prints at the end, computed from the records alone (pure), so a test can check
// the same numbers a user reads.
import { errorEntry } from "../schemas/index.ts";

export interface SummaryJob {
  jobId: string;
  state: string;
  site: string;
  inputLfns: string[];
  errorCode?: number;
}

export interface UsageRow {
  jobs: number;
  wallSec: number;
  cpuSec: number;
}

export interface DemoSummary {
  taskId: string;
  jobs: number;
  finished: number;
  failed: number;
  cancelled: number;
  bySite: Record<string, number>;
  /** Fraction of finished jobs that ran at a site holding all their input files. */
  dataLocalFraction: number;
  errorsByCode: Record<string, { name: string; count: number }>;
  accountingByUser: Record<string, UsageRow>;
  pilots: number;
  elapsedSec: number;
}

export function summarize(input: {
  taskId: string;
  jobs: readonly SummaryJob[];
  /** lfn → sites holding it */
  replicas: ReadonlyMap<string, ReadonlySet<string>>;
  usageByUser: Record<string, UsageRow>;
  pilots: number;
  elapsedSec: number;
}): DemoSummary {
  const bySite: Record<string, number> = {};
  const errorsByCode: DemoSummary["errorsByCode"] = {};
  let finished = 0;
  let failed = 0;
  let cancelled = 0;
  let local = 0;
  for (const j of input.jobs) {
    if (j.state === "finished") {
      finished++;
      bySite[j.site] = (bySite[j.site] ?? 0) + 1;
      if (j.inputLfns.every((lfn) => input.replicas.get(lfn)?.has(j.site))) local++;
    } else if (j.state === "failed") failed++;
    else if (j.state === "cancelled") cancelled++;
    if (j.state === "failed" && j.errorCode !== undefined) {
      const key = String(j.errorCode);
      errorsByCode[key] ??= { name: errorEntry(j.errorCode)?.name ?? "UNKNOWN", count: 0 };
      errorsByCode[key].count++;
    }
  }
  return {
    taskId: input.taskId,
    jobs: input.jobs.length,
    finished,
    failed,
    cancelled,
    bySite,
    dataLocalFraction: finished === 0 ? 0 : local / finished,
    errorsByCode,
    accountingByUser: input.usageByUser,
    pilots: input.pilots,
    elapsedSec: input.elapsedSec,
  };
}

export function renderSummary(s: DemoSummary): string {
  const lines: string[] = [];
  lines.push(`task ${s.taskId}: ${s.jobs} jobs, ${s.finished} finished, ${s.failed} failed, ${s.cancelled} cancelled in ${s.elapsedSec.toFixed(1)} s with ${s.pilots} pilots`);
  lines.push("finished per site:");
  for (const [site, n] of Object.entries(s.bySite).sort()) lines.push(`  ${site.padEnd(12)} ${n}`);
  lines.push(`data locality: ${(s.dataLocalFraction * 100).toFixed(1)}% of finished jobs ran at a site holding all their inputs`);
  const errs = Object.entries(s.errorsByCode);
  lines.push(errs.length ? "errors by code:" : "errors by code: none");
  for (const [code, e] of errs) lines.push(`  ${code} ${e.name.padEnd(28)} ${e.count}`);
  lines.push("accounting per user:");
  for (const [dn, u] of Object.entries(s.accountingByUser)) lines.push(`  ${dn}\n      jobs ${u.jobs}, wall ${u.wallSec.toFixed(1)} s, cpu ${u.cpuSec.toFixed(2)} s`);
  return lines.join("\n");
}
