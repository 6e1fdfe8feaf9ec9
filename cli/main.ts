// `wms`: one CLI for every part of pilot-wms. Each command group lives in cli/commands/<group>.ts
// and imports its heavy modules inside the action, so `wms --help` and small commands start fast.
import { runWms } from "./program.ts";

const code = await runWms(process.argv.slice(2));
// A failed command may leave connections open; its one line is written, so end here. A command
// that succeeded ends when its work does (servers stop themselves on a signal).
if (code !== 0) process.exit(code);
process.exitCode = code;
