import { Option, type Command } from "commander";
import { action, configFor, EXIT, parseIntOption, parsePortOption, printJson } from "../command-kit.ts";

interface DemoCliOptions {
  jobs: number;
  sites: number;
  pilots: number;
  matchmakers: number;
  timeout: number;
  keep?: boolean;
  sharedServices?: boolean;
  monitorPort?: number;
  json?: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("run a whole task through pilots to finished, with a summary, on private servers it starts with authentication on (--shared-services: the machine's own); cleans up after")
    .option("--jobs <n>", "jobs in the sample task", parseIntOption("--jobs", 1), 200)
    .option("--sites <n>", "sites, each with its own storage folder", parseIntOption("--sites", 1), 3)
    .option("--pilots <n>", "pilots running at once, over all sites", parseIntOption("--pilots", 1), 6)
    .option("--matchmakers <n>", "matchmaker instances (one NATS queue group)", parseIntOption("--matchmakers", 1), 2)
    .option("--timeout <sec>", "give up after this many seconds", parseIntOption("--timeout", 10), 600)
    .option("--monitor-port <port>", "also serve the monitor on this port while the demo runs", parsePortOption("--monitor-port"))
    .option("--keep", "keep the temporary folder (with the private servers' data), or on --shared-services its Redis keys and RabbitMQ queues, for inspection")
    .option("--shared-services", "run on the machine's NATS, Redis and RabbitMQ as they are, WITHOUT authentication (default: private servers with authentication on, one identity per role)")
    // The default since the demo runs authenticated; kept so scripts that pass it still work.
    .addOption(new Option("--private-services").hideHelp())
    .option("--json", "print progress to stderr and, as the last line, one JSON summary object")
    .action(
      action(async (opts: DemoCliOptions, cmd: Command) => {
        const base = configFor(cmd);
        const { runDemo } = await import("../../demo/demo-run.ts");
        const { renderSummary } = await import("../../demo/demo-summary.ts");
        const { progressView } = await import("../../demo/demo-progress.ts");
        const view = progressView({ json: opts.json === true, tty: process.stderr.isTTY === true });
        const abort = new AbortController();
        const onSignal = (): void => {
          view.info("interrupted: stopping everything the demo started");
          abort.abort();
        };
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
        // Its terminal closed: the private servers and pilots run in process groups of their own
        // and would outlive it.
        process.once("SIGHUP", onSignal);
        const summary = await runDemo(
          { jobs: opts.jobs, sites: opts.sites, pilots: opts.pilots, matchmakers: opts.matchmakers, timeoutSec: opts.timeout, keep: opts.keep === true, monitorPort: opts.monitorPort, sharedServices: opts.sharedServices === true },
          base,
          view,
          abort.signal,
        );
        if (opts.json) printJson(summary);
        else process.stdout.write(renderSummary(summary) + "\n");
        const ok = summary.finished + summary.failed === summary.jobs && summary.failed === 0;
        process.exitCode = ok ? EXIT.ok : EXIT.failed;
        // Pilots and connections are closed; don't wait on stray timers of client libraries.
        setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
      }),
    );
}
