// `wms`: one CLI for every part of pilot-wms. Each command group lives in cli/commands/<group>.ts
// and is imported only when a command line names it (program.ts), so `wms --help` and small commands
// start fast. Import nothing here that loads the message schemas or the config (command-kit.ts does):
// `npm run bench -- --only cli` measures what a start costs.
import { reportError } from "./error-reporting.ts";
import { runWms } from "./program.ts";

// A failure no action awaited (a library's stray rejection, a throw in a timer) still leaves as one
// coded line, never Node's stack trace.
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (e: unknown) => process.exit(reportError(e)));
}

// `wms errors | head`: the reader closed the pipe, having read what it wanted. End quietly, as ls or
// cat do (they die of SIGPIPE, which Node ignores), not with a "service unavailable" line about a
// socket that was only our standard output. A command that started something it must stop first
// (`wms demo`'s private servers and pilots; it listens for SIGTERM) is stopped as on a signal, once,
// and what it writes after goes nowhere: `wms demo 2>&1 | head` left them all running.
let outputClosed = false;
const onOutputError = (e: NodeJS.ErrnoException): void => {
  if (outputClosed) return;
  if (e.code !== "EPIPE") throw e;
  outputClosed = true;
  if (process.listenerCount("SIGTERM") > 0) process.emit("SIGTERM", "SIGTERM");
  else process.exit(0);
};
process.stdout.on("error", onOutputError);
process.stderr.on("error", onOutputError);

const code = await runWms(process.argv.slice(2));
// A failed command may leave connections open; its one line is written, so end here. A command
// that succeeded ends when its work does (servers stop themselves on a signal).
if (code !== 0) process.exit(code);
