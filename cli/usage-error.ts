// Commander's own usage errors (unknown command or option, missing argument, bad value, a group
// without its subcommand) as registry errors, so they read like every other failure: one line,
// a code, and where to look next.
import type { Command, CommanderError, Option } from "commander";
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

/** The names a group answers to, for an error that says which word it did not know. */
function subcommandNames(cmd: Command): string[] {
  return cmd.commands.map((c) => c.name()).filter((n) => n !== "help");
}

/** `wms factory frob`, with or without --help: one line naming the group's own commands. */
export function unknownCommandError(cmd: Command, word: string): WmsError {
  const where = commandPath(cmd);
  return new WmsError(ERR.USAGE, `unknown command '${word}' for '${where}'; its commands are ${subcommandNames(cmd).join(", ")} (see '${where} --help')`);
}

/** The option `flag` as `cmd` or one of its parents defines it. */
export function optionNamed(cmd: Command, flag: string): Option | undefined {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const o = c.options.find((x) => x.long === flag || x.short === flag);
    if (o) return o;
  }
  return undefined;
}

/**
 * The first word of `args` that stands where a group expects one of its commands and names none
 * (`wms factory frob`, `wms pilot frob`). Checked before commander parses: commander shows the
 * group's help and exits 0 when such a word is followed by --help, as if the user had asked for the
 * group. A group that takes arguments of its own (`wms errors 1603`) takes the word as one.
 */
export function unknownSubcommand(program: Command, args: readonly string[]): WmsError | undefined {
  let cmd = program;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") return undefined;
    if (a.length > 1 && a.startsWith("-")) {
      // An option's value is not a command word; --help, --version and unknown options take none.
      const o = a.includes("=") ? undefined : optionNamed(cmd, a);
      if (o?.required || (o?.optional && i + 1 < args.length && !args[i + 1].startsWith("-"))) i++;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (sub) {
      cmd = sub;
      continue;
    }
    // `wms help x` and `wms x help` are commander's help command (usageError below).
    if (cmd.commands.length === 0 || cmd.registeredArguments.length > 0 || a === "help") return undefined;
    return unknownCommandError(cmd, a);
  }
  return undefined;
}

/** `undefined` for the outcomes that are not errors (help or version shown). */
export function usageError(e: CommanderError, program: Command, args: readonly string[]): WmsError | undefined {
  if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return undefined;
  if (e.code === "commander.help" && e.exitCode === 0) return undefined;
  const cmd = commandReached(program, args);
  const where = commandPath(cmd);
  if (e.code === "commander.help") {
    const subs = subcommandNames(cmd);
    // `wms help frob`: commander shows the help as an error; say what was not found instead.
    const h = args.indexOf("help");
    const asked = h < 0 ? undefined : args.slice(h + 1).find((a) => !a.startsWith("-"));
    if (asked !== undefined) return unknownCommandError(cmd, asked);
    return new WmsError(ERR.USAGE, `'${where}' needs a command: ${subs.join(", ")} (see '${where} --help')`);
  }
  if (e.code === "commander.unknownCommand") {
    const word = unknownSubcommand(program, args);
    if (word !== undefined) return word;
  }
  const text = e.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ").trim();
  return new WmsError(ERR.USAGE, `${text} (see '${where} --help')`);
}
