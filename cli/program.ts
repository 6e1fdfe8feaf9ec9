// The `wms` program: the command groups registered on one commander program, and the one place
// where any failure, commander's usage errors included, becomes one line with its registry code.
// Groups registered later (or by other files) inherit this handling: commander copies exitOverride
// and configureOutput to each subcommand it creates, and `applyErrorHandling` walks the tree again.
// Only the groups a command line names are imported; the rest are listed by name and summary, so
// `wms --help` and each command load a small part of the code (error-reporting.ts, not command-kit).
import { readFileSync } from "node:fs";
import { Command, CommanderError, Help, type Option } from "commander";
import { EXIT, EXIT_CODES_HELP, PROCESS_IO, reportError, type CliIo } from "./error-reporting.ts";
import { COMMAND_GROUPS } from "./commands/index.ts";
import { examplesHelp } from "./command-examples.ts";
import { rememberConfigOrigin, withDeploymentHint } from "./deployment-hint.ts";
import { helpAsked, helpCommandHelp } from "./help-command.ts";
import { unknownSubcommand, usageError } from "./usage-error.ts";

/** The one version source: package.json, found from this file whether it runs as TS or compiled. */
export function packageVersion(): string {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "pilot-wms" && pkg.version) return pkg.version;
    } catch {
      // not at this level; try the next
    }
  }
  return "unknown";
}

function applyErrorHandling(cmd: Command, io: CliIo): void {
  cmd.exitOverride();
  // Commander's own error text and the help it adds after an error are dropped: runWms prints the
  // one coded line instead. Help asked for (--help) still goes to stdout.
  cmd.configureOutput({ writeOut: (s) => io.out(s), writeErr: () => undefined, outputError: () => undefined });
  for (const sub of cmd.commands) applyErrorHandling(sub, io);
}

/**
 * A repeatable option collects into an empty list by default, which commander's help shows as
 * "(default: [])": noise, and a contradiction where the description names the default the command
 * applies when none is given (`wms proxy init --retriever`: "default role:pilot").
 */
function optionDescription(this: Help, option: Option): string {
  const emptyList = Array.isArray(option.defaultValue) && option.defaultValue.length === 0 && option.defaultValueDescription === undefined;
  return Help.prototype.optionDescription.call(this, emptyList ? Object.assign(Object.create(option) as Option, { defaultValue: undefined }) : option);
}

/**
 * Each loaded command's help ends with its examples (command-examples.ts), after any notes of its
 * own. The listed-only commands of groups not loaded are skipped: their help is never shown.
 */
function applyExamples(cmd: Command, path: string[], loaded: (name: string) => boolean): void {
  for (const sub of cmd.commands) {
    if (sub.name() === "help" || (path.length === 0 && !loaded(sub.name()))) continue;
    const subPath = [...path, sub.name()];
    const text = examplesHelp(subPath.join(" "));
    if (text !== undefined) sub.addHelpText("after", text);
    applyExamples(sub, subPath, loaded);
  }
}

function applyHelpStyle(cmd: Command): void {
  cmd.configureHelp({ optionDescription });
  for (const sub of cmd.commands) applyHelpStyle(sub);
}

/**
 * The program for `argv`: every group with a command named by one of argv's words is loaded and
 * registered; the others are listed by name and summary only. Without `argv`, every group loads
 * (tests that walk the whole command tree).
 */
export async function buildProgram(io: CliIo = PROCESS_IO, argv?: readonly string[]): Promise<Command> {
  const program = new Command("wms")
    .description("pilot-wms: pilot-based workload management with a ClassAd matchmaker")
    .version(packageVersion())
    .option("-c, --config <file>", "config file (default: ./wms.yaml or $WMS_CONFIG)")
    .option("--namespace <ns>", "deployment namespace for subjects, queues and keys (default: the namespace in wms.yaml, else wms)")
    .addHelpText("after", `${examplesHelp("") ?? ""}\n\n${EXIT_CODES_HELP}\n`);
  applyErrorHandling(program, io);
  const words = argv === undefined ? undefined : new Set(argv.filter((a) => !a.startsWith("-")));
  const loadedNames = new Set<string>();
  for (const group of COMMAND_GROUPS) {
    if (words === undefined || group.commands.some(([name]) => words.has(name))) {
      (await group.load())(program);
      for (const [name] of group.commands) loadedNames.add(name);
    } else for (const [name, summary] of group.commands) program.command(name).description(summary);
  }
  applyExamples(program, [], (name) => loadedNames.has(name));
  applyErrorHandling(program, io);
  applyHelpStyle(program);
  return program;
}

/**
 * Runs `wms` with `argv` (without node and script) and returns the exit code; never throws.
 * Actions that print write to stdout themselves; `io` receives help, version and error lines.
 */
export async function runWms(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  const program = await buildProgram(io, argv);
  rememberConfigOrigin(undefined);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.ok;
  }
  // Before commander, whose help command takes one word (help-command.ts).
  const help = helpAsked(program, argv);
  if (help !== undefined) {
    if ("error" in help) return reportError(help.error, io);
    if ("helpOf" in help) help.helpOf.outputHelp();
    else io.out(helpCommandHelp(help.helpCommandOf));
    return EXIT.ok;
  }
  // Before commander: it would answer `wms factory frob --help` with the group's help and exit 0.
  const unknown = unknownSubcommand(program, argv);
  if (unknown !== undefined) return reportError(unknown, io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      const w = usageError(e, program, argv);
      return w === undefined ? EXIT.ok : reportError(w, io);
    }
    return reportError(withDeploymentHint(e), io);
  }
}
