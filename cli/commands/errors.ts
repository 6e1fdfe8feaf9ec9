import type { Command } from "commander";
import { action, EXIT, printJson } from "../command-kit.ts";
import { ERR, ERROR_CODES, errorByName, errorEntry, WmsError, type ErrorCategory, type ErrorCodeEntry } from "../../schemas/index.ts";

function row(e: ErrorCodeEntry): string {
  return `${String(e.code).padEnd(6)}${e.name.padEnd(30)}${e.category.padEnd(13)}${(e.retryable ? "yes" : "no").padEnd(10)}${e.message}`;
}

export function registerErrors(program: Command): void {
  const errors = program
    .command("errors")
    .description("the error-code registry: the whole table, or one code (number or name)")
    .argument("[code]", "an error code such as 2400 or a name such as MYPROXY_DN_MISMATCH")
    .option("--json", "print JSON")
    .option("--category <cat>", "only this category (pilot, stage-in, security, credentials, ...)")
    .action(
      action((code: string | undefined, opts: { json?: boolean; category?: string }) => {
        if (code !== undefined) {
          const entry = /^\d+$/.test(code) ? errorEntry(Number(code)) : errorByName(code);
          if (!entry) throw new WmsError(ERR.NOT_FOUND, `no error code '${code}' in the registry (run 'wms errors' for the table)`);
          if (opts.json) printJson(entry);
          else process.stdout.write(`${entry.code} ${entry.name}\n  category:  ${entry.category}\n  retryable: ${entry.retryable ? "yes" : "no"}\n  message:   ${entry.message}\n`);
          return;
        }
        const categories = [...new Set(ERROR_CODES.map((e) => e.category))];
        if (opts.category !== undefined && !categories.includes(opts.category as ErrorCategory)) {
          throw new WmsError(ERR.UNKNOWN_CATEGORY, `'${opts.category}'; the categories are ${categories.join(", ")}`);
        }
        const rows = ERROR_CODES.filter((e) => !opts.category || e.category === opts.category);
        if (opts.json) return printJson(rows);
        process.stdout.write(`${"CODE".padEnd(6)}${"NAME".padEnd(30)}${"CATEGORY".padEnd(13)}${"RETRYABLE".padEnd(10)}MESSAGE\n`);
        for (const e of rows) process.stdout.write(row(e) + "\n");
        process.exitCode = EXIT.ok;
      }),
    );
  // `wms errors summary` counts failure codes across tasks; it reads the job store.
  errors
    .command("summary")
    .description("count failures by code across tasks: every failure recorded, so a job retried and failed again counts twice ('wms job list --state failed' lists the jobs failed now)")
    .option("--json", "print JSON")
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const { errorsSummaryCommand } = await import("../errors-summary.ts");
        await errorsSummaryCommand(cmd, opts);
      }),
    );
}
