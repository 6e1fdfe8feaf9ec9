import type { Command } from "commander";
import type { NatsConnection } from "nats";
import { action, configFor, withAwayNote, parseIntOption, parseNumberOption, printJson, warn } from "../command-kit.ts";
import { connectNats } from "../nats-connection.ts";
import { EXIT } from "../error-reporting.ts";
import { credentialFiles, readCredentialOptions, type CallerCredential } from "../credential-options.ts";
import { ERR, WmsError, type WireNames } from "../../schemas/index.ts";
import { FINAL_STATES, JOB_STATES, STATE_GROUPS, type JobRecord, type JobState, type TaskRecord } from "../../jobs/index.ts";
import { withRedis } from "./replica.ts";
import type { OpenTaskProgress } from "../../matchmaker/index.ts";
import type { RedisClient } from "../../platform/redis-client.ts";

interface SignerOptions {
  cert?: string;
  key?: string;
  json?: boolean;
  timeout: number;
  /** commander's `--no-proxy-check`: false when given. */
  proxyCheck?: boolean;
  allowDuplicate?: boolean;
}

async function withNats<T>(cmd: Command, fn: (nc: NatsConnection, names: WireNames) => Promise<T>): Promise<T> {
  const { config, names } = configFor(cmd);
  const nc = await connectNats(config, "wms-task");
  try {
    return await fn(nc, names);
  } finally {
    await nc.close();
  }
}

function signerOptions(c: Command): Command {
  return c
    .option("--cert <pem>", "your certificate (PEM; a proxy chain file is fine) (default: users/production.cert.pem in the PKI folder, as wms init writes it)")
    .option("--key <pem>", "the private key of --cert (default: users/production.key.pem in the PKI folder)")
    .option("--timeout <sec>", "how long to wait for the intake's answer", parseNumberOption("--timeout", 1), 120)
    .option("--json", "print the intake's reply as JSON");
}

/** The signer's files: --cert/--key, or the production manager's that `wms init` wrote. */
async function signer(opts: SignerOptions, cmd: Command): Promise<CallerCredential> {
  const { cert, key } = credentialFiles(opts, configFor(cmd).config.pki.dir, "production");
  return readCredentialOptions(cert, key);
}

const STATES = JOB_STATES;
const FINAL = FINAL_STATES;
const BAR_GROUPS = STATE_GROUPS;

interface TaskView {
  task: TaskRecord;
  /** A task whose input is another task's output, planned as it is registered: its producers and input files. */
  inputs?: OpenTaskProgress;
  counts: Record<JobState, number>;
  errors: Array<{ code: number; name: string; count: number }>;
  failedJobs: Array<{ jobId: string; site: string; attempt: number; code: number | null; name: string | null; message: string }>;
  /** Jobs that were retried or failed, each with every attempt (the last row is the current one). */
  attempts: Array<{ jobId: string; state: JobState; attempts: AttemptRow[] }>;
}

interface AttemptRow {
  attempt: number;
  site: string;
  pilotId: string;
  /** The state the attempt ended in (or is in, for the current one). */
  state: string;
  code: number | null;
  name: string | null;
  message: string;
}

async function attemptHistory(store: import("../../jobs/index.ts").JobStore, taskId: string, limit: number): Promise<TaskView["attempts"]> {
  if (limit <= 0) return [];
  const { errorEntry } = await import("../../schemas/index.ts");
  const named = (code: number | null): string | null => (code === null ? null : (errorEntry(code)?.name ?? "UNKNOWN"));
  const out: TaskView["attempts"] = [];
  for (let offset = 0; out.length < limit; offset += 500) {
    const page = await store.listJobs(taskId, { offset, limit: 500 });
    if (page.length === 0) break;
    for (const j of page) {
      if (out.length >= limit) break;
      if (j.attempt <= 1 && j.state !== "failed") continue;
      const ended = (await store.attempts(j.jobId)).map((a): AttemptRow => {
        const code = a.errorCode ? Number(a.errorCode) : null;
        return { attempt: a.attempt, site: a.site, pilotId: a.pilotId, state: a.ended === "lost" ? `${a.state} (lost)` : a.state, code, name: named(code), message: a.message };
      });
      // The record's code describes the current attempt only once it failed; before that it is the previous failure's.
      const code = j.state === "failed" ? (j.errorCode ?? null) : null;
      ended.push({ attempt: j.attempt, site: j.site, pilotId: j.pilotId ?? "", state: j.state, code, name: named(code), message: j.state === "failed" ? (j.errorMessage ?? "") : "" });
      out.push({ jobId: j.jobId, state: j.state, attempts: ended });
    }
  }
  return out;
}

async function readTaskView(redis: RedisClient, names: WireNames, taskId: string, failedLimit: number, attemptsLimit = 0): Promise<TaskView> {
  const { JobStore } = await import("../../jobs/index.ts");
  const { errorEntry } = await import("../../schemas/index.ts");
  const store = new JobStore(redis, names);
  const task = await store.getTask(taskId);
  if (!task) throw new WmsError(ERR.NOT_FOUND, withAwayNote(`no task ${taskId}`, "see 'wms task list'"));
  const [counts, errors, planText] = await Promise.all([store.taskCounts(taskId), store.taskErrors(taskId), task.open !== undefined ? store.taskPlan(taskId) : undefined]);
  let inputs: OpenTaskProgress | undefined;
  if (planText !== undefined) {
    const { openTaskProgress, ReplicaCatalogStore } = await import("../../matchmaker/index.ts");
    inputs = await openTaskProgress({ jobs: store, catalog: new ReplicaCatalogStore(redis, names) }, taskId, planText);
  }
  const failed: JobRecord[] = counts.failed > 0 && failedLimit > 0 ? await store.listJobs(taskId, { state: "failed", limit: failedLimit }) : [];
  return {
    task,
    ...(inputs && { inputs }),
    counts,
    errors: Object.entries(errors)
      .filter(([, n]) => n > 0)
      .map(([code, count]) => ({ code: Number(code), name: errorEntry(Number(code))?.name ?? "UNKNOWN", count }))
      .sort((a, b) => b.count - a.count),
    failedJobs: failed.map((j) => ({ jobId: j.jobId, site: j.site, attempt: j.attempt, code: j.errorCode ?? null, name: j.errorCode === undefined ? null : (errorEntry(j.errorCode)?.name ?? "UNKNOWN"), message: j.errorMessage ?? "" })),
    attempts: await attemptHistory(store, taskId, attemptsLimit),
  };
}

/** "open: waiting for T5's outputs, 12 files consumed, 1 pending" (pending: registered, waiting to fill a job). */
function inputLine(t: TaskRecord, p: OpenTaskProgress): string {
  const files = `${p.consumed} file${p.consumed === 1 ? "" : "s"} consumed${p.pending > 0 ? `, ${p.pending} pending` : ""}`;
  if (t.open !== true) return `closed: ${files} (from ${p.waitingFor.map((w) => `${w.producer}, ${w.status}`).join("; ")})`;
  const waiting = p.waitingFor.filter((w) => w.status === "active");
  const who = waiting.length > 0 ? `waiting for ${waiting.map((w) => `${w.producer}'s outputs (${w.dataset})`).join(", ")}` : "its producers ended; planning the last jobs";
  return `open: ${who}, ${files}`;
}

function printTaskView(v: TaskView): void {
  const t = v.task;
  const out = (s: string): void => void process.stdout.write(s + "\n");
  out(`task ${t.taskId} ${t.taskName} (${t.kind}, VO ${t.vo}${t.group ? `, group ${t.group}` : ""}) — ${t.status}`);
  out(`  owner    ${t.ownerDn}`);
  out(`  priority ${t.priority}, max attempts ${t.maxAttempts}, output ${t.outputDataset}`);
  out(`  jobs     ${t.njobs}: ${STATES.filter((s) => v.counts[s] > 0).map((s) => `${s} ${v.counts[s]}`).join(", ") || "none"}`);
  if (v.inputs) out(`  inputs   ${inputLine(t, v.inputs)}`);
  if (t.message) out(`  ${t.errorCode !== undefined ? `E${t.errorCode} ` : ""}${t.message}`);
  if (v.errors.length > 0) out(`  errors   ${v.errors.map((e) => `E${e.code} ${e.name} ×${e.count}`).join(", ")}`);
  if (v.failedJobs.length > 0) {
    out(`failed jobs${v.counts.failed > v.failedJobs.length ? ` (first ${v.failedJobs.length} of ${v.counts.failed})` : ""}:`);
    for (const j of v.failedJobs) out(`  ${j.jobId}  ${j.code === null ? "-" : `E${j.code} ${j.name}`}  ${j.message}`);
  }
  if (v.attempts.length > 0) {
    out("attempt history (retried or failed jobs):");
    for (const j of v.attempts) {
      out(`  ${j.jobId}  ${j.state}`);
      for (const a of j.attempts) out(`    #${a.attempt}  ${a.site}  ${a.pilotId || "-"}  ${a.state}  ${a.code === null ? "-" : `E${a.code} ${a.name}`}  ${a.message}`);
    }
  }
}

/** Polls the task until every job is final, showing bars by state on a terminal and a line per change otherwise. */
async function watchTask(redis: RedisClient, names: WireNames, taskId: string, o: { intervalMs: number; json: boolean; failedLimit: number; attemptsLimit: number }): Promise<TaskView> {
  const cliProgress = (await import("cli-progress")).default;
  const tty = !o.json && process.stderr.isTTY === true;
  let multi: import("cli-progress").MultiBar | undefined;
  let bars: Map<string, import("cli-progress").SingleBar> | undefined;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.once("SIGINT", stop);
  let last = "";
  try {
    for (;;) {
      const v = await readTaskView(redis, names, taskId, 0);
      const done = FINAL.reduce((n, s) => n + v.counts[s], 0);
      // An open task gets more jobs: all of its current ones final is not the end.
      const finished = v.task.status !== "active" || (v.task.open !== true && done >= v.task.njobs);
      if (o.json) {
        printJson({ taskId, status: v.task.status, njobs: v.task.njobs, counts: v.counts });
      } else if (tty) {
        if (!multi) {
          multi = new cliProgress.MultiBar({ format: " {name} |{bar}| {value}/{total}", hideCursor: true, clearOnComplete: false, stream: process.stderr, barsize: 40 }, cliProgress.Presets.shades_classic);
          bars = new Map(BAR_GROUPS.map(([name]) => [name, (multi as import("cli-progress").MultiBar).create(v.task.njobs, 0, { name: name.padEnd(9) })]));
        }
        for (const [name, states] of BAR_GROUPS) bars?.get(name)?.update(states.reduce((n, s) => n + v.counts[s], 0));
      } else {
        const line = `${taskId} ${v.task.status}: ${BAR_GROUPS.map(([name, states]) => `${name} ${states.reduce((n, s) => n + v.counts[s], 0)}`).join(", ")} of ${v.task.njobs}`;
        if (line !== last) process.stderr.write(line + "\n");
        last = line;
      }
      if (finished || stopped) break;
      await new Promise((r) => setTimeout(r, o.intervalMs));
    }
  } finally {
    multi?.stop();
    process.removeListener("SIGINT", stop);
  }
  return readTaskView(redis, names, taskId, o.failedLimit, o.attemptsLimit);
}

export function registerTask(program: Command): void {
  const task = program.command("task").description("submit signed task batches to the intake; watch, list, cancel and retry tasks");

  signerOptions(
    task
      .command("submit")
      .description("sign a task batch (YAML or JSON, schema schemas/json/TaskBatch.schema.json) with your certificate and submit it; prints the task id")
      .argument("<file>", "the task batch file")
      .option("--no-proxy-check", "accept the task, with a warning, even when you have no delegated credential that outlives a job's walltime (default: the intake refuses it, E2302/E2303)")
      .option("--allow-duplicate", "accept the task even when you already have a task of the same name (default: the intake refuses it, E1607)"),
  ).action(
    action(async (file: string, opts: SignerOptions, cmd: Command) => {
      const { readDataFile } = await import("../../platform/config.ts");
      const { TaskBatch } = await import("../../schemas/index.ts");
      const { signTaskBatch } = await import("../../security/index.ts");
      const { TaskClient } = await import("../../matchmaker/task-client.ts");
      const data = readDataFile(file);
      const problems = TaskBatch.problems(data);
      if (problems !== undefined) throw new WmsError(ERR.BAD_INPUT, `${file}: ${problems}`);
      const batch = TaskBatch.parse(data);
      const stamped = { ...batch, ...(opts.proxyCheck === false && { proxyCheck: "warn" as const }), ...(opts.allowDuplicate === true && { allowDuplicate: true }) };
      const signed = signTaskBatch(stamped, await signer(opts, cmd));
      const r = await withNats(cmd, (nc, names) => new TaskClient(nc, names, opts.timeout * 1000).submit(signed));
      for (const w of r.warnings ?? []) warn(w);
      if (opts.json) return printJson(r);
      const where = Object.entries(r.sites)
        .sort((a, b) => b[1] - a[1])
        .map(([s, n]) => `${s} ${n}`)
        .join(", ");
      process.stdout.write(`${r.taskId}\n`);
      process.stderr.write(`task ${r.taskId}: ${r.jobs} job(s), ${r.queued} queued${where ? ` (${where})` : ""}${r.unbrokered ? `, ${r.unbrokered} failed: no online site holds their data (E${ERR.INTAKE_NO_REPLICA})` : ""}${r.waitingFor ? `; open: more jobs as the outputs of ${r.waitingFor.join(", ")} are registered` : ""}\n`);
    }),
  );

  task
    .command("status")
    .description("show a task's jobs by state, its error codes, its failed jobs (code, name, message) and the attempt history of retried or failed jobs")
    .argument("<id>", "task id, e.g. T12")
    .option("--watch", "keep showing progress bars until every job is final (Ctrl-C stops watching)")
    .option("--interval <sec>", "with --watch: seconds between refreshes", parseNumberOption("--interval", 0.1), 1)
    .option("--failed <n>", "list at most N failed jobs", parseIntOption("--failed", 0), 20)
    .option("--attempts <n>", "show the attempt history (attempt, site, pilot, code, message) of at most N retried or failed jobs", parseIntOption("--attempts", 0), 20)
    .option("--json", "print as JSON (with --watch: one line per refresh, then the final status)")
    .option("--exit-status", `with --watch: exit ${EXIT.taskNotDone} when the task ends other than done (partial, broken, aborted), for scripts`)
    .action(
      action(async (id: string, opts: { watch?: boolean; interval: number; failed: number; attempts: number; json?: boolean; exitStatus?: boolean }, cmd: Command) => {
        if (opts.exitStatus && !opts.watch) throw new WmsError(ERR.USAGE, "--exit-status needs --watch (it reports how the task ended)");
        await withRedis(cmd, async (redis, names) => {
          const v = opts.watch ? await watchTask(redis, names, id, { intervalMs: opts.interval * 1000, json: opts.json === true, failedLimit: opts.failed, attemptsLimit: opts.attempts }) : await readTaskView(redis, names, id, opts.failed, opts.attempts);
          if (opts.json) printJson(v);
          else printTaskView(v);
          // As 'gh run watch --exit-status': the watch itself succeeded, the task did not finish every job.
          if (opts.exitStatus && v.task.status !== "done") process.exitCode = EXIT.taskNotDone;
        });
      }),
    );

  task
    .command("list")
    .description("list tasks, newest first, with their jobs by state")
    .option("--limit <n>", "show at most N tasks", parseIntOption("--limit", 1), 50)
    .option("--json", "print as JSON")
    .action(
      action(async (opts: { limit: number; json?: boolean }, cmd: Command) => {
        await withRedis(cmd, async (redis, names) => {
          const { JobStore } = await import("../../jobs/index.ts");
          const store = new JobStore(redis, names);
          const tasks = await store.listTasks({ limit: opts.limit });
          const counts = await Promise.all(tasks.map((t) => store.taskCounts(t.taskId)));
          const rows = tasks.map((t, i) => ({ ...t, counts: counts[i] }));
          if (opts.json) return printJson(rows);
          if (rows.length === 0) return void process.stdout.write(`${withAwayNote("no tasks", "submit one with 'wms task submit FILE --cert C --key K'")}\n`);
          const idW = Math.max(4, ...rows.map((r) => r.taskId.length));
          const nameW = Math.max(4, ...rows.map((r) => r.taskName.length));
          process.stdout.write(`${"TASK".padEnd(idW)}  ${"NAME".padEnd(nameW)}  KIND        STATUS     JOBS   QUEUED  RUNNING  FINISHED  FAILED  OWNER\n`);
          for (const r of rows) {
            const c = r.counts;
            const cols = [r.njobs, c.defined + c.activated, c.sent + c.starting + c.running, c.finished, c.failed + c.cancelled].map((n, i) => String(n).padStart([4, 6, 7, 8, 6][i]));
            // An open task is active and still getting jobs from another task's outputs: say so.
            const status = r.open === true && r.status === "active" ? "open" : r.status;
            process.stdout.write(`${r.taskId.padEnd(idW)}  ${r.taskName.padEnd(nameW)}  ${r.kind.padEnd(10)}  ${status.padEnd(9)}  ${cols.join("  ")}  ${r.ownerDn}\n`);
          }
        });
      }),
    );

  for (const act of ["cancel", "retry"] as const) {
    signerOptions(
      task
        .command(act)
        .description(
          act === "cancel"
            ? "cancel a task: queued jobs leave their queues, running ones stop at their next heartbeat (owner or production role only)"
            : "retry a task's failed jobs: re-brokered to sites holding their data, attempt + 1 (owner or production role only)",
        )
        .argument("<id>", "task id"),
    ).action(
      action(async (id: string, opts: SignerOptions, cmd: Command) => {
        const { TaskClient } = await import("../../matchmaker/task-client.ts");
        const { newTaskControl, signTaskControl } = await import("../../matchmaker/task-control.ts");
        const signed = signTaskControl(newTaskControl(act, id), await signer(opts, cmd));
        const r = await withNats(cmd, (nc, names) => new TaskClient(nc, names, opts.timeout * 1000).control(signed));
        if (opts.json) return printJson(r);
        if (act === "cancel") process.stdout.write(`task ${r.taskId}: ${r.affected} job(s) cancelled\n`);
        else process.stdout.write(`task ${r.taskId}: ${r.affected} failed job(s) queued again${r.skipped ? `, ${r.skipped} still with no online site holding their data` : ""}\n`);
      }),
    );
  }
}
