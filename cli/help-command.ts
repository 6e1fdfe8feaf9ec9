// `wms help [command...]` and `wms <group> help [command...]`, as git, npm and gh answer them:
// the help of the command the words name, however deep (`wms help factory set` is `wms factory set
// --help`), one coded usage line for a word that names no command (`wms help factory frob`), and
// the help command's own help for `wms help help`. Commander's own help command takes one word:
// it showed the group's help, exit 0, for `wms help factory set` and `wms help factory frob`, and
// refused `wms help help` as an unknown command.
import type { Command } from "commander";
import type { WmsError } from "../schemas/wms-error.ts";
import { commandPath, optionNamed, unknownCommandError } from "./usage-error.ts";

/** What `wms help ...` asks for: a command's help, the help command's own, or a word naming nothing. */
export type HelpAsked = { readonly helpOf: Command } | { readonly helpCommandOf: Command } | { readonly error: WmsError };

function subcommand(cmd: Command, word: string): Command | undefined {
  return cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
}

/** The command words of `args` (not options, nor their values), up to `--`. */
function commandWords(program: Command, args: readonly string[]): string[] {
  const words: string[] = [];
  let cmd = program;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") break;
    if (a.length > 1 && a.startsWith("-")) {
      const o = a.includes("=") ? undefined : optionNamed(cmd, a);
      if (o?.required || (o?.optional && i + 1 < args.length && !args[i + 1].startsWith("-"))) i++;
      continue;
    }
    words.push(a);
    cmd = subcommand(cmd, a) ?? cmd;
  }
  return words;
}

/**
 * `undefined` when `args` is no use of the help command: no `help` word, or one that stands where
 * a command takes an argument (`wms task status help`: a task named help).
 */
export function helpAsked(program: Command, args: readonly string[]): HelpAsked | undefined {
  const words = commandWords(program, args);
  const at = words.indexOf("help");
  if (at < 0) return undefined;
  let cmd = program;
  for (const w of words.slice(0, at)) {
    const sub = subcommand(cmd, w);
    if (sub === undefined) return undefined;
    cmd = sub;
  }
  if (cmd.commands.length === 0) return undefined;
  for (const w of words.slice(at + 1)) {
    if (w === "help") return { helpCommandOf: cmd };
    const sub = subcommand(cmd, w);
    if (sub === undefined) return { error: unknownCommandError(cmd, w) };
    cmd = sub;
  }
  return { helpOf: cmd };
}

/** `wms help help`: the help command's own help, in commander's layout. */
export function helpCommandHelp(group: Command): string {
  const path = commandPath(group);
  return [
    `Usage: ${path} help [command...]`,
    "",
    `show the help of a command, however deep: '${path} help <command>...' shows what '${path} <command>... --help' shows`,
    "",
  ].join("\n");
}
