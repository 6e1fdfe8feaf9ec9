// `wms errors summary`: failure codes across every task of the namespace, with their registry
// entries, from the sites' counters (JobStore.errorCounts): a history of failures, not of failed
// jobs. A job failed, retried by `wms task retry` and failed again counts twice, and refused stale
// updates count too (jobs/README.md); `wms task status` and `wms job list --state failed` give the
// jobs failed now.
import type { Command } from "commander";
import { errorEntry } from "../schemas/index.ts";
import { printJson, withAwayNote } from "./command-kit.ts";
import { withRedis } from "./commands/replica.ts";

export interface ErrorSummaryRow {
  code: number;
  name: string;
  category: string;
  retryable: boolean;
  message: string;
  /** Failures under this code (the field's older name; not distinct jobs, see above). */
  jobs: number;
}

export function summarizeErrorCounts(counts: Record<string, number>): ErrorSummaryRow[] {
  return Object.entries(counts)
    .map(([code, jobs]) => {
      const e = errorEntry(Number(code));
      return { code: Number(code), name: e?.name ?? "UNKNOWN", category: e?.category ?? "?", retryable: e?.retryable ?? false, message: e?.message ?? "not in the registry", jobs };
    })
    .filter((r) => r.jobs > 0)
    .sort((a, b) => b.jobs - a.jobs || a.code - b.code);
}

export async function errorsSummaryCommand(cmd: Command, opts: { json?: boolean }): Promise<void> {
  // `wms errors` has a --json of its own, and commander gives `errors summary --json` to it.
  const json = opts.json === true || cmd.optsWithGlobals<{ json?: boolean }>().json === true;
  const { JobStore } = await import("../jobs/index.ts");
  await withRedis(cmd, async (redis, names) => {
    const rows = summarizeErrorCounts(await new JobStore(redis, names).errorCounts());
    if (json) return printJson(rows);
    if (rows.length === 0) {
      process.stdout.write(`${withAwayNote("no failed jobs")}\n`);
      return;
    }
    process.stdout.write(`${"CODE".padEnd(6)}${"NAME".padEnd(30)}${"FAILURES".padStart(9)}  MESSAGE\n`);
    for (const r of rows) process.stdout.write(`${String(r.code).padEnd(6)}${r.name.padEnd(30)}${String(r.jobs).padStart(9)}  ${r.message}\n`);
    process.stdout.write(`${"".padEnd(6)}${"TOTAL".padEnd(30)}${String(rows.reduce((n, r) => n + r.jobs, 0)).padStart(9)}\n`);
  });
}
