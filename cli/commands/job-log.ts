import type { Command } from "commander";
import { action, parseIntOption, printJson } from "../command-kit.ts";
import { withRedis } from "./replica.ts";

/** `wms job` may be registered by another command group too: share it rather than define it twice. */
export function jobCommand(program: Command): Command {
  return program.commands.find((c) => c.name() === "job") ?? program.command("job").description("one job: its logs and history");
}

export function registerJobLog(program: Command): void {
  jobCommand(program)
    .command("log")
    .argument("<job>", "job id")
    .description("print a job attempt's logs: the last 64 KB of the payload's stderr and stdout and the pilot's own log for that attempt (kept a week)")
    .option("--attempt <n>", "which attempt (default: the latest with logs)", parseIntOption("--attempt", 1))
    .option("--json", "print the attempt's LogReport as JSON")
    .addHelpText("after", "\nExamples:\n  wms job log T1.00042\n  wms job log T1.00042 --attempt 1 --json\n")
    .action(
      action(async (jobId: string, opts: { attempt?: number; json?: boolean }, cmd: Command) => {
        const { JobLogStore } = await import("../../agents/job-logs/index.ts");
        const { ERR, WmsError, errorEntry } = await import("../../schemas/index.ts");
        await withRedis(cmd, async (redis, names) => {
          const store = new JobLogStore(redis, names);
          const attempts = await store.attempts(jobId);
          if (attempts.length === 0) throw new WmsError(ERR.NOT_FOUND, `no logs for job ${jobId} in namespace ${names.namespace} (none sent yet, or older than a week)`);
          const r = await store.get(jobId, opts.attempt);
          if (!r) throw new WmsError(ERR.NOT_FOUND, `job ${jobId} has no logs for attempt ${opts.attempt}; attempts with logs: ${attempts.join(", ")}`);
          if (opts.json) {
            printJson(r);
            return;
          }
          const code = r.errorCode !== undefined ? `E${r.errorCode} ${errorEntry(r.errorCode)?.name ?? ""}`.trim() : "ok";
          const out: string[] = [
            `job ${r.jobId} (task ${r.taskId}) attempt ${r.attempt} of ${attempts.join(", ")} at ${r.site} by pilot ${r.pilotId}: ${code}, ${new Date(r.at).toISOString()}`,
          ];
          const section = (title: string, text: string, truncated: boolean): void => {
            out.push(`--- ${title}${truncated ? " (last 64 KB)" : ""} ---`);
            out.push(text === "" ? "(empty)" : text.replace(/\n$/, ""));
          };
          section("payload stderr", r.stderr, r.truncated.stderr);
          section("payload stdout", r.stdout, r.truncated.stdout);
          section("pilot log", formatPilotLog(r.pilotLog), r.truncated.pilotLog);
          process.stdout.write(out.join("\n") + "\n");
        });
      }),
    );
}

const LEVELS: Readonly<Record<number, string>> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const NOISE = new Set(["level", "time", "msg", "pid", "hostname", "svc", "name"]);

/** pino JSON lines as `time LEVEL msg key=value ...`; a line that is not JSON is printed as it is. */
export function formatPilotLog(text: string): string {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line) => {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.entries(o)
          .filter(([k]) => !NOISE.has(k))
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(" ");
        const time = typeof o.time === "number" ? new Date(o.time).toISOString() : "";
        return `${time} ${LEVELS[Number(o.level)] ?? String(o.level)} ${String(o.msg ?? "")}${extra ? `  ${extra}` : ""}`.trim();
      } catch {
        return line;
      }
    })
    .join("\n");
}
