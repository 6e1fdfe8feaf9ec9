// `wms`: one CLI for every part of pilot-wms. Each command group lives in cli/commands/<group>.ts
// and imports its heavy modules inside the action, so `wms --help` and small commands start fast.
import { reportError } from "./command-kit.ts";
import { runWms } from "./program.ts";

// A failure no action awaited (a library's stray rejection, a throw in a timer) still leaves as one
// coded line, never Node's stack trace.
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (e: unknown) => process.exit(reportError(e)));
}

const code = await runWms(process.argv.slice(2));
// A failed command may leave connections open; its one line is written, so end here. A command
// that succeeded ends when its work does (servers stop themselves on a signal).
if (code !== 0) process.exit(code);
