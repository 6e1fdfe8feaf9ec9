import type { Command } from "commander";
import { action, printJson } from "../command-kit.ts";
import { ERR, WmsError } from "../../schemas/index.ts";
import { withRedis } from "./replica.ts";

const KINDS = ["user", "group", "vo", "site"] as const;
type Kind = (typeof KINDS)[number];

function parseBy(v: string): Kind {
  if (!(KINDS as readonly string[]).includes(v)) throw new WmsError(ERR.USAGE, `--by '${v}' must be one of ${KINDS.join(", ")}`);
  return v as Kind;
}

export function registerAccounting(program: Command): void {
  const accounting = program.command("accounting").description("usage per user, group, VO and site, as the accounting agent recorded it");
  accounting
    .command("report")
    .description("print jobs, wall time, CPU time and max RSS per user (or group, VO, site)")
    .option("--by <kind>", `group by ${KINDS.join(" | ")}`, parseBy, "user" as Kind)
    .option("--json", "print JSON: one object per row with jobs, wallSec, cpuSec, maxRssKb")
    .action(
      action(async (opts: { by: Kind; json?: boolean }, cmd: Command) => {
        const { UsageStore, formatUsageTable } = await import("../../agents/accounting/index.ts");
        await withRedis(cmd, async (redis, names, config) => {
          const rows = await new UsageStore(redis, names, config.quotas).list(opts.by);
          if (opts.json) printJson(rows.map(({ name, jobs, wallSec, cpuSec, maxRssKb }) => ({ [opts.by]: name, jobs, wallSec, cpuSec, maxRssKb })));
          else process.stdout.write(formatUsageTable(opts.by, rows));
        });
      }),
    );
}
