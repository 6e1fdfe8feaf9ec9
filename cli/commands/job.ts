// `wms job list` and `wms job show`: jobs read through the jobs/ port (JobStore), with `wms job log`
// in the same group. The store indexes jobs per task only, so a listing without --task walks the
// newest tasks (--tasks N) and filters; its cost grows with the jobs it reads, not with Redis.
import type { Command } from "commander";
import { action, parseIntOption, printJson, withAwayNote } from "../command-kit.ts";
import { ERR, WmsError, errorByName, errorEntry } from "../../schemas/index.ts";
import { JOB_STATES, isJobState, type JobRecord, type JobState } from "../../jobs/index.ts";
import { withRedis } from "./replica.ts";
import { jobCommand, registerJobLog } from "./job-log.ts";

interface ListOptions {
  task?: string;
  user?: string;
  state?: string;
  site?: string;
  code?: string;
  json?: boolean;
  limit: number;
  page: number;
  tasks: number;
}

/** A code as a number (1402, E1402) or a registry name (PAYLOAD_MEMORY_EXCEEDED). */
function parseCode(v: string): number {
  const n = /^E?(\d+)$/i.exec(v.trim());
  const entry = n ? errorEntry(Number(n[1])) : errorByName(v.trim());
  if (!entry) throw new WmsError(ERR.USAGE, `--code: no error code '${v}' (see 'wms errors')`);
  return entry.code;
}

function parseState(v: string): JobState {
  if (!isJobState(v)) throw new WmsError(ERR.USAGE, `--state: no job state '${v}'; one of ${JOB_STATES.join(", ")}`);
  return v;
}

const codeName = (code: number | undefined): string => (code === undefined ? "-" : `E${code} ${errorEntry(code)?.name ?? "UNKNOWN"}`);

function row(j: JobRecord): Record<string, unknown> {
  return { jobId: j.jobId, taskId: j.taskId, user: j.spec.userDn, state: j.state, site: j.site, attempt: j.attempt, pilotId: j.pilotId ?? "", code: j.errorCode ?? null, message: j.errorMessage ?? "", updatedAt: j.updatedAt };
}

export function registerJob(program: Command): void {
  registerJobLog(program);
  const job = jobCommand(program);

  job
    .command("list")
    .description("list jobs, newest tasks first, filtered by task, user, state, site or error code")
    .option("--task <id>", "only this task's jobs")
    .option("--user <dn>", "only jobs of this owner DN")
    .option("--state <state>", `only jobs in this state (${JOB_STATES.join(", ")})`)
    .option("--site <site>", "only jobs at this site")
    .option("--code <code>", "only jobs that failed with this code (number or name), in their last attempt or an earlier one: a job out of attempts ends with E1903 RETRY_MAX_ATTEMPTS and is found by its attempts' causes too")
    .option("--limit <n>", "jobs per page", parseIntOption("--limit", 1), 50)
    .option("--page <n>", "which page (from 1)", parseIntOption("--page", 1), 1)
    .option("--tasks <n>", "without --task: how many of the newest tasks to look through", parseIntOption("--tasks", 1), 200)
    .option("--json", "print as JSON")
    .action(
      action(async (opts: ListOptions, cmd: Command) => {
        // Every filter is checked before Redis is touched: bad input changes nothing and reads nothing.
        const state = opts.state === undefined ? undefined : parseState(opts.state);
        const code = opts.code === undefined ? undefined : parseCode(opts.code);
        await withRedis(cmd, async (redis, names) => {
          const { JobStore } = await import("../../jobs/index.ts");
          const store = new JobStore(redis, names);
          let taskIds: string[];
          if (opts.task !== undefined) {
            if (!(await store.getTask(opts.task))) throw new WmsError(ERR.NOT_FOUND, withAwayNote(`no task ${opts.task}`, "see 'wms task list'"));
            taskIds = [opts.task];
          } else {
            const tasks = await store.listTasks({ limit: opts.tasks });
            taskIds = tasks.filter((t) => opts.user === undefined || t.ownerDn === opts.user).map((t) => t.taskId);
          }
          const skip = (opts.page - 1) * opts.limit;
          const picked: JobRecord[] = [];
          let matched = 0;
          for (const taskId of taskIds) {
            const jobs = (await store.listJobs(taskId, state ? { state } : {})).filter((j) => (opts.user === undefined || j.spec.userDn === opts.user) && (opts.site === undefined || j.site === opts.site));
            // A job that ran out of attempts says E1903 RETRY_MAX_ATTEMPTS; asked for the cause
            // (PAYLOAD_MEMORY_EXCEEDED), it is found by its last attempt's cause (on the record) or
            // its earlier attempts' codes, read for the task's jobs in one batch (its shard's
            // pipeline), not one job at a time.
            const failedWith = (j: JobRecord): boolean => j.errorCode === code || j.causeCode === code;
            const history = code === undefined ? undefined : await store.attemptsOf(jobs.filter((j) => !failedWith(j) && j.attempt > 1).map((j) => j.jobId));
            for (const j of jobs) {
              if (code !== undefined && !failedWith(j) && !(history?.get(j.jobId) ?? []).some((a) => Number(a.errorCode) === code)) continue;
              if (matched >= skip && picked.length < opts.limit) picked.push(j);
              matched++;
            }
          }
          if (opts.json) return printJson({ page: opts.page, limit: opts.limit, total: matched, jobs: picked.map(row) });
          if (picked.length === 0) {
            process.stderr.write(`${withAwayNote(`no jobs match (${matched} in all)`)}\n`);
            return;
          }
          const w = Math.max(6, ...picked.map((j) => j.jobId.length));
          process.stdout.write(`${"JOB".padEnd(w)}  ${"STATE".padEnd(12)}  ${"SITE".padEnd(12)}  ATT  CODE\n`);
          for (const j of picked) process.stdout.write(`${j.jobId.padEnd(w)}  ${j.state.padEnd(12)}  ${j.site.padEnd(12)}  ${String(j.attempt).padStart(3)}  ${j.state === "failed" || j.attempt > 1 ? codeName(j.errorCode) : "-"}\n`);
          process.stderr.write(`page ${opts.page}: ${skip + 1}-${skip + picked.length} of ${matched}\n`);
        });
      }),
    );

  job
    .command("show")
    .argument("<job>", "job id")
    .description("one job: its spec, state, every attempt (site, pilot, code, message) and timings")
    .option("--json", "print as JSON")
    .action(
      action(async (jobId: string, opts: { json?: boolean }, cmd: Command) => {
        await withRedis(cmd, async (redis, names) => {
          const { JobStore } = await import("../../jobs/index.ts");
          const store = new JobStore(redis, names);
          const j = await store.getJob(jobId);
          if (!j) throw new WmsError(ERR.NOT_FOUND, withAwayNote(`no job ${jobId} in namespace ${names.namespace}`, "see 'wms job list'"));
          const ended = await store.attempts(jobId);
          const attempts = [
            ...ended.map((a) => ({ attempt: a.attempt, site: a.site, pilotId: a.pilotId, state: a.state, ended: a.ended, code: a.errorCode ? Number(a.errorCode) : null, message: a.message, at: a.at })),
            { attempt: j.attempt, site: j.site, pilotId: j.pilotId ?? "", state: j.state, ended: null, code: j.state === "failed" ? (j.errorCode ?? null) : null, message: j.state === "failed" ? (j.errorMessage ?? "") : "", at: j.updatedAt },
          ];
          const timings = { createdAt: j.createdAt, startedAt: j.startedAt ?? null, endedAt: j.endedAt ?? null, updatedAt: j.updatedAt, wallSec: j.wallSec ?? null };
          if (opts.json) return printJson({ jobId: j.jobId, taskId: j.taskId, state: j.state, site: j.site, attempt: j.attempt, code: j.errorCode ?? null, message: j.errorMessage ?? "", spec: j.spec, attempts, timings });
          const out = (s: string): void => void process.stdout.write(s + "\n");
          const iso = (ms: number | null): string => (ms === null ? "-" : new Date(ms).toISOString());
          out(`job ${j.jobId} (task ${j.taskId}) — ${j.state}, attempt ${j.attempt} of ${j.spec.maxAttempts}, site ${j.site}`);
          out(`  owner     ${j.spec.userDn}`);
          out(`  request   ${j.spec.cores} core(s), ${j.spec.memoryMb} MB, ${j.spec.walltimeSec} s; ${j.spec.executable} ${j.spec.arguments.join(" ")}`);
          // The record keeps the newest failure's code through later attempts (job list --code finds
          // the cause by it): on a job that has not failed now it is an earlier attempt's, said so.
          if (j.errorCode !== undefined && j.state === "failed") out(`  last code ${codeName(j.errorCode)}: ${j.errorMessage ?? ""}`);
          else if (j.errorCode !== undefined) {
            const which = ended.filter((a) => Number(a.errorCode) === j.errorCode).at(-1)?.attempt;
            out(`  earlier   ${codeName(j.errorCode)}: ${j.errorMessage ?? ""} (attempt ${which ?? "before this one"}; this attempt is ${j.state})`);
          }
          out(`  times     created ${iso(timings.createdAt)}, started ${iso(timings.startedAt)}, ended ${iso(timings.endedAt)}${timings.wallSec === null ? "" : `, wall ${timings.wallSec} s`}`);
          out("attempts:");
          for (const a of attempts) out(`  #${a.attempt}  ${a.site}  ${a.pilotId || "-"}  ${a.state}${a.ended === "lost" ? " (lost)" : ""}  ${a.code === null ? "-" : codeName(a.code)}${a.message === "" ? "" : `  ${a.message}`}`);
          out(`logs: wms job log ${j.jobId}${attempts.length > 1 ? " [--attempt N]" : ""}`);
        });
      }),
    );
}
