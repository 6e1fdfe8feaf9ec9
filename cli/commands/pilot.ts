import type { Command } from "commander";
import { action, configFor, deprecatedAlias, EXIT, parseIntOption, parseNumberOption, printJson, withAwayNote } from "../command-kit.ts";

interface PilotCliOptions {
  site?: string;
  token?: string;
  tokenFile?: string;
  workDir: string;
  walltime?: number;
  maxEmpty: number;
  maxBackoff?: number;
  maxUnanswered?: number;
  sitesFile?: string;
  pilotCert?: string;
  pilotKey?: string;
  pilotId?: string;
  keepJobDirs?: boolean;
  queue?: string;
  factoryId?: string;
  censusSec?: number;
  json?: boolean;
}

export function registerPilot(program: Command): void {
  const pilot = program
    .command("pilot")
    .description("run a pilot on this worker node: advertise, run matched jobs, report, until work runs out or walltime runs short; 'pilot list' shows the pilots the factories know")
    .option("--site <name>", "the site this worker node belongs to (a name in the site configuration); required")
    .option("--token-file <file>", "file holding the pilot token (the factory writes it 0600); read and deleted at start, the token then lives in memory only")
    .option("--token <token>", "pilot token (default: env WMS_PILOT_TOKEN); prefer --token-file: argv is visible to ps, and the environment to the payload in /proc/<pilot>/environ")
    .option("--work-dir <dir>", "base work directory; the pilot makes <dir>/<pilotId>/ under it", ".wms/pilots")
    .option("--walltime <sec>", "seconds this pilot may live (default: the batch system's limit, SLURM_JOB_END_TIME or the HTCondor job ad)", parseIntOption("--walltime", 1))
    .option("--max-empty <n>", "exit after this many adverts in a row found nothing", parseIntOption("--max-empty", 1), 3)
    .option("--max-backoff <sec>", "cap on the matchmaker's back-off hint between empty adverts", parseNumberOption("--max-backoff", 0))
    .option("--max-unanswered <sec>", "exit when no matchmaker has answered an advert for this long (unanswered adverts are not empty ones; default 300)", parseNumberOption("--max-unanswered", 0))
    .option("--sites-file <file>", "site configuration (SiteConfig YAML/JSON); default: sitesFile in wms.yaml")
    .option("--pilot-cert <pem>", "pilot certificate, kept in the pilot's private directory (default: pilot.cert in wms.yaml)")
    .option("--pilot-key <pem>", "key of --pilot-cert (default: pilot.key in wms.yaml)")
    .option("--pilot-id <id>", "pilot id (default: generated from host, pid and random bytes)")
    .option("--queue <name>", "factory queue that started this pilot (echoed in its census)")
    .option("--factory-id <id>", "factory that started this pilot (echoed in its census)")
    .option("--census-sec <sec>", "repeat the census this often while alive (the factory's census interval; default 30)", parseNumberOption("--census-sec", 1))
    .option("--keep-job-dirs", "keep job directories after the job (credentials are deleted regardless)")
    .option("--json", "print the exit summary as one JSON object")
    .action(
      action(async (opts: PilotCliOptions, cmd: Command) => {
        const { ERR, WmsError } = await import("../../schemas/index.ts");
        // Checked here, not by commander: a required option of `pilot` would be demanded of `pilot list` too.
        if (!opts.site) throw new WmsError(ERR.USAGE, "--site is required: the site this worker node belongs to");
        const loaded = configFor(cmd);
        let token = opts.token ?? process.env.WMS_PILOT_TOKEN;
        if (opts.tokenFile !== undefined) {
          const { readFileSync, rmSync } = await import("node:fs");
          try {
            token = readFileSync(opts.tokenFile, "utf8").trim();
          } catch (e) {
            throw new WmsError(ERR.FILE_UNREADABLE, `--token-file ${opts.tokenFile}: ${(e as Error).message}`);
          }
          // Gone before any payload runs: a payload under the pilot's own uid could read it otherwise.
          rmSync(opts.tokenFile, { force: true });
        }
        if (!token) throw new WmsError(ERR.USAGE, "no pilot token: pass --token-file F (the factory does), --token T or set WMS_PILOT_TOKEN");
        if ((opts.pilotCert === undefined) !== (opts.pilotKey === undefined)) throw new WmsError(ERR.USAGE, "--pilot-cert and --pilot-key go together");
        // The site entry is checked before anything is opened: a wrong --site fails fast and plainly.
        const { loadSiteEntry } = await import("../../agents/pilot/site-entry.ts");
        const site = loadSiteEntry(opts.sitesFile ?? loaded.config.sitesFile, opts.site);
        // Made here, one level at a time, before anything connects: a path through a file or on a file
        // system that holds no folders is one coded line (E1008, E1015), not ENOTDIR from deep inside
        // the report spool, nor Node's recursive mkdir spinning forever on procfs.
        const { makeFolder } = await import("../../platform/make-folder.ts");
        makeFolder(opts.workDir);
        const { runPilotProcess } = await import("../../agents/pilot/pilot-process.ts");
        const ac = new AbortController();
        const stop = (): void => ac.abort();
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
        const summary = await runPilotProcess({
          loaded,
          site,
          token,
          workdir: opts.workDir,
          walltimeSec: opts.walltime,
          maxEmpty: opts.maxEmpty,
          maxBackoffSec: opts.maxBackoff,
          maxUnansweredSec: opts.maxUnanswered,
          pilotId: opts.pilotId,
          pilotCert: pilotCredential(opts, loaded.config.pilot),
          keepJobDirs: opts.keepJobDirs ?? false,
          queue: opts.queue,
          factoryId: opts.factoryId,
          censusSec: opts.censusSec,
          env: process.env,
          signal: ac.signal,
        });
        process.off("SIGTERM", stop);
        process.off("SIGINT", stop);
        if (opts.json) printJson(summary);
        else
          process.stdout.write(
            `pilot ${summary.pilotId} at ${summary.site}: ${summary.jobsDone} jobs done, ${summary.jobsFailed} failed, ${summary.envelopesRejected} envelopes rejected, ${summary.emptyAdverts} empty adverts; exit: ${summary.exitReason}\n`,
          );
        // A refused token or advert is the operator's to fix: the pilot ends with the matchmaker's code.
        if (summary.refusal) throw WmsError.fromReply(summary.refusal);
        process.exitCode = EXIT.ok;
      }),
    );
  deprecatedAlias(pilot, "--workdir <dir>", "--work-dir");

  pilot
    .command("list")
    .description("pilots the factories know (live, and exited within a day), newest first: site, queue, state, jobs run, reports held in memory")
    .option("--site <name>", "only pilots of this site")
    .option("--state <state>", `only pilots in this state (${PILOT_STATES.join(", ")})`)
    .option("--json", "print as JSON")
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const { ERR, WmsError } = await import("../../schemas/index.ts");
        // `pilot`'s own --site/--json may take these flags first: read them from the whole chain.
        const o = cmd.optsWithGlobals<{ site?: string; state?: string; json?: boolean }>();
        if (o.state !== undefined && !(PILOT_STATES as readonly string[]).includes(o.state)) throw new WmsError(ERR.USAGE, `--state ${o.state}: one of ${PILOT_STATES.join(", ")}`);
        const { withRedis } = await import("./replica.ts");
        await withRedis(cmd, async (redis, names) => {
          const { listPilots } = await import("../../pilot-factory/index.ts");
          const rows = await listPilots(redis, names, { site: o.site, state: o.state });
          if (o.json) return printJson(rows);
          if (rows.length === 0) {
            process.stdout.write(`${withAwayNote("no pilots")}\n`);
            return;
          }
          const w = Math.max(5, ...rows.map((r) => r.pilotId.length));
          const s = Math.max(4, ...rows.map((r) => r.site.length));
          process.stdout.write(`${"PILOT".padEnd(w)}  ${"SITE".padEnd(s)}  ${"STATE".padEnd(8)}  JOBS  HELD  QUEUE\n`);
          for (const r of rows) {
            const state = r.cause === "lost" ? "lost" : r.state;
            process.stdout.write(`${r.pilotId.padEnd(w)}  ${r.site.padEnd(s)}  ${state.padEnd(8)}  ${String(r.jobs).padStart(4)}  ${String(r.heldReports).padStart(4)}  ${r.queue}\n`);
          }
        });
      }),
    );
}

const PILOT_STATES = ["pending", "idle", "running", "exited"] as const;

/** The pilot's own certificate: the flags, else the deployment's `pilot` section (how factory-started pilots get one). */
function pilotCredential(opts: PilotCliOptions, fromConfig: { cert?: string; key?: string }): { certPath: string; keyPath: string } | undefined {
  if (opts.pilotCert && opts.pilotKey) return { certPath: opts.pilotCert, keyPath: opts.pilotKey };
  if (fromConfig.cert && fromConfig.key) return { certPath: fromConfig.cert, keyPath: fromConfig.key };
  return undefined;
}
