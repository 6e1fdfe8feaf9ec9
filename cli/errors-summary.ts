// `wms errors summary`: failure codes across every task of the namespace, with their registry
// entries, from the JobStore's counters (a job counts once, under the code it finally failed with).
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
    process.stdout.write(`${"CODE".padEnd(6)}${"NAME".padEnd(30)}${"JOBS".padStart(7)}  MESSAGE\n`);
    for (const r of rows) process.stdout.write(`${String(r.code).padEnd(6)}${r.name.padEnd(30)}${String(r.jobs).padStart(7)}  ${r.message}\n`);
    process.stdout.write(`${"".padEnd(6)}${"TOTAL".padEnd(30)}${String(rows.reduce((n, r) => n + r.jobs, 0)).padStart(7)}\n`);
  });
}
