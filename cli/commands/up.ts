import type { Command } from "commander";
import { action, configFor, EXIT, parseNumberOption, printJson, wmsCommand } from "../command-kit.ts";
import { rememberConfigOrigin } from "../deployment-hint.ts";

interface UpCliOptions {
  detach?: boolean;
  jsonLogs?: boolean;
  json?: boolean;
  timeout: number;
}

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("start the whole system on this machine from wms.yaml (made by 'wms init'): credential cache, intake, matchmakers, agents, monitor and a factory of local pilots, each a supervised process")
    .option("-d, --detach", "run in the background (logs in .wms/up/up.log); then 'wms status' and 'wms down'")
    .option("--json-logs", "print the services' logs as JSON lines (with a 'proc' field) instead of pretty, prefixed lines")
    .option("--timeout <sec>", "with --detach: how long to wait for everything to be up", parseNumberOption("--timeout", 1), 180)
    .option("--json", "with --detach: print what runs (supervisor pid, namespace, monitor URL, log file) as one JSON object")
    .addHelpText(
      "after",
      "\nServices in wms.yaml that do not answer are started as private servers (free ports, a temporary data folder) and stopped again;\n" +
        "while it runs, every wms command given this wms.yaml (in its folder, or --config) connects to them without flags.\n" +
        "A service that exits is restarted with a growing back-off. Ctrl-C stops everything: the factory, its pilots, the services.",
    )
    .action(
      action(async (opts: UpCliOptions, cmd: Command) => {
        if (opts.json && !opts.detach) {
          // In the foreground the output is the services' logs (--json-logs makes them JSON).
          const { ERR, WmsError } = await import("../../schemas/index.ts");
          throw new WmsError(ERR.USAGE, "--json needs --detach (in the foreground, --json-logs prints the logs as JSON)");
        }
        const loaded = configFor(cmd);
        // A service outage is wms up's own failure here: the hint other commands add ("'wms up'
        // does not run for DIR; 'wms up --detach' starts it") would send the user back to it.
        rememberConfigOrigin(undefined);
        if (opts.detach) return await detach(cmd, opts, loaded);
        const { runUp } = await import("../../deployment/up.ts");
        const ac = new AbortController();
        const onSignal = (): void => {
          if (!ac.signal.aborted) return ac.abort();
          // A second Ctrl-C: the clean stop takes too long for the operator; `wms down` sweeps what is left.
          process.stderr.write("wms: stopping without waiting; run 'wms down' to clear what is left\n");
          process.exit(EXIT.failed);
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
        const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
        await runUp({ loaded, jsonLogs: opts.jsonLogs === true, colour, write: (t) => void process.stdout.write(t), signal: ac.signal, env: process.env, logFile: process.env.WMS_UP_LOG_FILE });
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }),
    );

  program
    .command("status")
    .description("what 'wms up' runs for this deployment: each process, its pid, state and restarts; the services and the monitor")
    .option("--json", "print as JSON")
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const { deploymentDirOf } = await import("../../deployment/up.ts");
        const { readUpState, isAlive, servicesAccess } = await import("../../deployment/up-state.ts");
        const dir = deploymentDirOf(configFor(cmd));
        const state = readUpState(dir);
        const running = state !== undefined && isAlive(state.supervisor);
        const { redactUrl } = await import("../../platform/service-targets.ts");
        if (opts.json) {
          // Scripts and logs get what the table shows: the servers, never a password in a URL.
          const urls = state && { nats: redactUrl(state.urls.nats), redis: redactUrl(state.urls.redis), rabbitmq: redactUrl(state.urls.rabbitmq) };
          const privateUrls = state?.privateUrls && Object.fromEntries(Object.entries(state.privateUrls).map(([k, u]) => [k, redactUrl(u)]));
          return printJson({ dir, running, ...(state && { ...state, urls, ...(privateUrls && { privateUrls }), children: state.children.map((c) => ({ ...c, alive: c.pid !== undefined && isAlive({ pid: c.pid, startTicks: c.startTicks }) })) }) });
        }
        if (!state || !running) {
          process.stdout.write(`nothing runs for ${dir}${state ? ` (a previous run did not stop cleanly: '${wmsCommand()} down' clears it)` : ""}; start it with '${wmsCommand()} up'\n`);
          return;
        }
        const now = Date.now();
        const age = (t: number): string => {
          const s = Math.max(0, Math.round((now - t) / 1000));
          return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
        };
        process.stdout.write(`wms up for ${dir} (namespace ${state.namespace}): ${state.status}, supervisor pid ${state.supervisor.pid}, up ${age(state.startedAt)}\n`);
        if (state.monitorUrl) process.stdout.write(`  monitor   ${state.monitorUrl}\n`);
        process.stdout.write(`  services  nats ${redactUrl(state.urls.nats)}, redis ${redactUrl(state.urls.redis)}, rabbitmq ${redactUrl(state.urls.rabbitmq)}${state.startedServices.length ? ` (started privately: ${state.startedServices.join(", ")})` : ""}\n            ${servicesAccess(state.cliIdentityFile !== undefined)}\n`);
        if (state.logFile) process.stdout.write(`  log       ${state.logFile}\n`);
        const rows = state.children.map((c) => [c.name, c.pid === undefined ? "-" : String(c.pid), c.state, String(c.restarts), age(c.since)]);
        const header = ["PROCESS", "PID", "STATE", "RESTARTS", "SINCE"];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
        for (const r of [header, ...rows]) process.stdout.write("  " + r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd() + "\n");
      }),
    );

  program
    .command("down")
    .description("stop what 'wms up --detach' runs for this deployment: factory, pilots, services, private servers; deletes its temporary folder")
    .option("--timeout <sec>", "how long to wait for a clean stop before killing", parseNumberOption("--timeout", 1), 60)
    .option("--purge", "also delete this deployment's data on the services it used as they are (not private ones, which go with their folder): every Redis key under its namespace (on each master of a cluster) and its RabbitMQ queues and exchanges; never another namespace's")
    .option("-y, --yes", "with --purge: do not ask for confirmation (needed when stdin is not a terminal)")
    .option("--json", "print what was stopped (and purged) as JSON")
    .addHelpText(
      "after",
      "\nWithout --purge the tasks and queues stay on shared services for the next 'wms up'; private servers 'wms up' started keep nothing either way.",
    )
    .action(
      action(async (opts: { timeout: number; purge?: boolean; yes?: boolean; json?: boolean }, cmd: Command) => {
        const { deploymentDirOf, sweepLeftovers } = await import("../../deployment/up.ts");
        const { readUpState, isAlive } = await import("../../deployment/up-state.ts");
        const { signalGroup } = await import("../../platform/process-groups.ts");
        const { ERR, WmsError } = await import("../../schemas/index.ts");
        if (opts.yes && !opts.purge) throw new WmsError(ERR.USAGE, "--yes confirms --purge; give both, or neither");
        const loaded = configFor(cmd);
        const dir = deploymentDirOf(loaded);
        const state = readUpState(dir);
        // Asked before anything stops: a refusal (or no terminal to ask on) leaves everything as it was.
        const purge = opts.purge ? await confirmPurge(loaded, state?.startedServices ?? [], opts.yes === true) : undefined;
        let stopped: { clean: boolean; processes: number; note: string } | undefined;
        if (state) {
          let clean = false;
          let note = " (its supervisor had died; stopped what it left)";
          if (isAlive(state.supervisor)) {
            process.kill(state.supervisor.pid, "SIGTERM");
            const until = Date.now() + opts.timeout * 1000;
            while (Date.now() < until && isAlive(state.supervisor)) await new Promise((r) => setTimeout(r, 200));
            clean = !isAlive(state.supervisor);
            note = clean ? "" : ` (the supervisor did not stop within ${opts.timeout} s and was killed; leftovers swept)`;
            if (!clean) signalGroup(state.supervisor.pid, "SIGKILL");
          }
          // Whatever the supervisor could not stop (or everything, if it was already gone).
          await sweepLeftovers(dir, state, 5000);
          stopped = { clean, processes: state.children.length, note };
        }
        // After the stop: no service of the deployment writes again behind the purge.
        const { secretsDirOf } = await import("../../deployment/up-state.ts");
        const purged = purge ? await (await import("../../deployment/namespace-purge.ts")).purgeNamespace(loaded, purge, secretsDirOf(dir)) : undefined;
        if (opts.json) {
          return printJson({ dir, stopped: stopped !== undefined, ...(stopped ? { clean: stopped.clean, processes: stopped.processes } : { reason: "nothing runs" }), ...(purged && { purged }) });
        }
        process.stdout.write(stopped ? `stopped ${stopped.processes} process(es) for ${dir}${stopped.note}\n` : `nothing runs for ${dir}\n`);
        if (purged) {
          if (purged.redis) process.stdout.write(`purged namespace ${purged.namespace} on ${purged.redis.where}: ${purged.redis.keysDeleted} key(s)\n`);
          const q = purged.rabbitmq;
          if (q) {
            const absent = q.queues.absent.length + q.exchanges.absent.length;
            process.stdout.write(
              `purged namespace ${purged.namespace} on ${q.where}: ${q.queues.deleted.length} queue(s) (${q.queues.messagesDropped} message(s) in them), ${q.exchanges.deleted.length} exchange(s)${absent > 0 ? `; ${absent} already absent` : ""}\n`,
            );
          }
          for (const s of purged.skipped) process.stdout.write(`  ${s.service}: nothing deleted; ${s.why}\n`);
        }
      }),
    );
}

/**
 * What `--purge` will delete, said and confirmed: on a terminal it asks (y/N); otherwise only
 * `--yes` confirms, and without it nothing is done (E1008, exit 2).
 */
async function confirmPurge(
  loaded: import("../../platform/config.ts").LoadedConfig,
  startedPrivately: readonly string[],
  yes: boolean,
): Promise<ReadonlyArray<import("../../deployment/namespace-purge.ts").PurgeTarget>> {
  const { purgeTargets } = await import("../../deployment/namespace-purge.ts");
  const { ERR, WmsError } = await import("../../schemas/index.ts");
  const targets = purgeTargets(loaded, startedPrivately);
  const doing = targets.filter((t) => t.skip === undefined);
  const what = doing.map((t) => (t.service === "redis" ? `every key of namespace ${loaded.names.namespace} on ${t.where}` : `its queues and exchanges on ${t.where}`)).join(" and ");
  if (yes || doing.length === 0) return targets;
  if (!process.stdin.isTTY) throw new WmsError(ERR.USAGE, `--purge deletes ${what}; confirm with --yes (nothing was stopped or deleted)`);
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`delete ${what}? This cannot be undone. [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new WmsError(ERR.USAGE, "--purge not confirmed; nothing was stopped or deleted");
  } finally {
    rl.close();
  }
  return targets;
}

async function detach(cmd: Command, opts: UpCliOptions, loaded: import("../../platform/config.ts").LoadedConfig): Promise<void> {
  const { openSync, readFileSync, mkdirSync, closeSync, statSync } = await import("node:fs");
  const path = await import("node:path");
  const { spawn } = await import("node:child_process");
  const { ERR, WmsError } = await import("../../schemas/index.ts");
  const { childError, deploymentDirOf } = await import("../../deployment/up.ts");
  const { readUpState, isAlive, upDir } = await import("../../deployment/up-state.ts");
  const { wmsBin } = await import("../../deployment/package-root.ts");
  const dir = deploymentDirOf(loaded);
  const before = readUpState(dir);
  if (before && isAlive(before.supervisor)) throw new WmsError(ERR.DEPLOYMENT_ALREADY_UP, `${dir} (supervisor pid ${before.supervisor.pid}); see 'wms status', stop it with 'wms down'`);
  mkdirSync(upDir(dir), { recursive: true });
  const logFile = path.join(upDir(dir), "up.log");
  const fd = openSync(logFile, "a", 0o600);
  // Starting takes 10-40 s (a private RabbitMQ alone ~15-30 s): say what the background run is
  // doing, from where its lines begin in the log, on stderr (stdout keeps the one result line).
  const progress = await logProgress(logFile, statSync(logFile).size);
  const g = cmd.optsWithGlobals<{ namespace?: string }>();
  const args = [wmsBin(), "--config", path.resolve(loaded.path as string), ...(g.namespace ? ["--namespace", g.namespace] : []), "up", "--json-logs"];
  const child = spawn(process.execPath, args, { cwd: dir, detached: true, stdio: ["ignore", fd, fd], env: { ...process.env, WMS_UP_LOG_FILE: logFile } });
  closeSync(fd);
  let exited: number | null | undefined;
  child.once("exit", (code) => (exited = code));
  child.unref();
  const until = Date.now() + opts.timeout * 1000;
  try {
    for (;;) {
      const s = readUpState(dir);
      if (s && s.supervisor.pid === child.pid && s.status === "running") {
        if (opts.json) return printJson({ pid: child.pid, namespace: s.namespace, monitorUrl: s.monitorUrl, logFile });
        process.stdout.write(`wms up runs in the background (pid ${child.pid}, namespace ${s.namespace}); monitor at ${s.monitorUrl}; logs in ${logFile}\n'${wmsCommand()} status' shows it, '${wmsCommand()} down' stops it\n`);
        return;
      }
      if (exited !== undefined) {
        // The last error line of the run says why: our own one-line error, or a child's.
        const lines = readFileSync(logFile, "utf8").trim().split("\n");
        const why = [...lines].reverse().find((l) => l.startsWith("wms: error"));
        throw childError(why, `wms up stopped while starting (exit ${exited})`, `see ${logFile}`);
      }
      if (Date.now() > until) {
        if (child.pid !== undefined) process.kill(child.pid, "SIGTERM");
        throw new WmsError(ERR.TIMEOUT, `not everything was up within ${opts.timeout} s; stopping it (see ${logFile}, raise --timeout)`);
      }
      for (const m of progress.read()) process.stderr.write(`wms up: ${m}\n`);
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    progress.close();
  }
}

/** `wms up`'s own messages (deployment/log-lines.ts, `upProgress`) appended to its log from byte `from` on. */
async function logProgress(logFile: string, from: number): Promise<{ read(): string[]; close(): void }> {
  const { openSync, readSync, closeSync } = await import("node:fs");
  const { upProgress } = await import("../../deployment/log-lines.ts");
  const { StringDecoder } = await import("node:string_decoder");
  const utf8 = new StringDecoder("utf8"); // a character split between two reads stays whole
  const fd = openSync(logFile, "r");
  const buf = Buffer.alloc(64 * 1024);
  let at = from;
  let rest = "";
  return {
    read(): string[] {
      const out: string[] = [];
      for (let n = readSync(fd, buf, 0, buf.length, at); n > 0; n = readSync(fd, buf, 0, buf.length, at)) {
        at += n;
        const p = upProgress(rest + utf8.write(buf.subarray(0, n)));
        rest = p.rest;
        out.push(...p.messages);
      }
      return out;
    },
    close: () => closeSync(fd),
  };
}
