import type { Command } from "commander";
import { action, parseIntOption, printJson, withAwayNote } from "../command-kit.ts";
import { withRedis } from "./replica.ts";

/** `wms job` may be registered by another command group too: share it rather than define it twice. */
export function jobCommand(program: Command): Command {
  return program.commands.find((c) => c.name() === "job") ?? program.command("job").description("jobs: list them by task, user, state, site or code; show one (spec, attempts, timings); print its logs");
}

export function registerJobLog(program: Command): void {
  jobCommand(program)
    .command("log")
    .argument("<job>", "job id")
    .description("print a job attempt's logs: the last 64 KB of the payload's stderr and stdout and the pilot's own log for that attempt (kept a week)")
    .option("--attempt <n>", "which attempt (default: the latest with logs)", parseIntOption("--attempt", 1))
    .option("--json", "print the attempt's LogReport as JSON")
    .action(
      action(async (jobId: string, opts: { attempt?: number; json?: boolean }, cmd: Command) => {
        const { JobLogStore, formatJobLog } = await import("../../agents/job-logs/index.ts");
        const { ERR, WmsError } = await import("../../schemas/index.ts");
        await withRedis(cmd, async (redis, names) => {
          const store = new JobLogStore(redis, names);
          const attempts = await store.attempts(jobId);
          if (attempts.length === 0) throw new WmsError(ERR.NOT_FOUND, withAwayNote(`no logs for job ${jobId} in namespace ${names.namespace} (none sent yet, or older than a week)`));
          const r = await store.get(jobId, opts.attempt);
          if (!r) throw new WmsError(ERR.NOT_FOUND, `job ${jobId} has no logs for attempt ${opts.attempt}; attempts with logs: ${attempts.join(", ")}`);
          if (opts.json) {
            printJson(r);
            return;
          }
          process.stdout.write(formatJobLog(r, attempts));
        });
      }),
    );
}

