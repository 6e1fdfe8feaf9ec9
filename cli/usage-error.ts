// Commander's own usage errors (unknown command or option, missing argument, bad value, a group
// without its subcommand) as registry errors, so they read like every other failure: one line,
// a code, and where to look next.
import type { Command, CommanderError } from "commander";
// The registry's own files, not schemas/' index: help and usage errors load no message schema.
import { ERR } from "../schemas/error-codes.ts";
import { WmsError } from "../schemas/wms-error.ts";

/** The command the user was reaching for: the deepest one whose names appear in `args`, in order. */
export function commandReached(program: Command, args: readonly string[]): Command {
  let cmd = program;
  for (const a of args) {
    if (a === "--") break;
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (sub) cmd = sub;
  }
  return cmd;
}

export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** `undefined` for the outcomes that are not errors (help or version shown). */
export function usageError(e: CommanderError, program: Command, args: readonly string[]): WmsError | undefined {
  if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return undefined;
  if (e.code === "commander.help" && e.exitCode === 0) return undefined;
  const cmd = commandReached(program, args);
  const where = commandPath(cmd);
  if (e.code === "commander.help") {
    const subs = cmd.commands.map((c) => c.name()).filter((n) => n !== "help");
    // `wms help frob`: commander shows the help as an error; say what was not found instead.
    const path = where.split(" ");
    const asked = args.includes("help") ? args.find((a) => !a.startsWith("-") && a !== "help" && !path.includes(a)) : undefined;
    if (asked !== undefined) return new WmsError(ERR.USAGE, `unknown command '${asked}' (see '${where} --help')`);
    return new WmsError(ERR.USAGE, `'${where}' needs a command: ${subs.join(", ")} (see '${where} --help')`);
  }
  const text = e.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ").trim();
  return new WmsError(ERR.USAGE, `${text} (see '${where} --help')`);
}
