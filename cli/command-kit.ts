// What every command shares: one-line errors with their registry code (never a stack trace),
// `--json` output, and the config loaded once per invocation.
import { Option, type Command } from "commander";
import { ERR, isWmsError, WmsError } from "../schemas/index.ts";
import { loadConfig, type LoadedConfig } from "../platform/config.ts";
import { READY_MESSAGE } from "../deployment/ready-message.ts";

/**
 * Exit codes: 0 ok; 1 the operation failed (the error line names why); 2 the command line is wrong
 * (unknown command or option, missing argument, bad value) or the command is not built: nothing
 * was attempted. `wms --help` prints this table (EXIT_CODES_HELP).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Codes that mean "fix the command line", whatever raised them; they exit with EXIT.usage. */
const USAGE_CODES: ReadonlySet<number> = new Set([ERR.USAGE, ERR.BAD_PORT, ERR.UNKNOWN_CATEGORY, ERR.NOT_IMPLEMENTED]);

export function exitCodeFor(code: number): number {
  return USAGE_CODES.has(code) ? EXIT.usage : EXIT.failed;
}

export const EXIT_CODES_HELP = [
  "Exit codes:",
  `  ${EXIT.ok}  success`,
  `  ${EXIT.failed}  the operation failed; stderr holds one line 'wms: error E<code> <NAME>: <message>' ('wms errors <code>' explains it)`,
  `  ${EXIT.usage}  the command line is wrong (E${ERR.USAGE} USAGE, E${ERR.BAD_PORT} BAD_PORT, E${ERR.UNKNOWN_CATEGORY} UNKNOWN_CATEGORY) or not built (E${ERR.NOT_IMPLEMENTED}); nothing was done`,
].join("\n");

export interface GlobalOptions {
  config?: string;
  namespace?: string;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function configFor(cmd: Command): LoadedConfig {
  const g = globalOptions(cmd);
  return loadConfig({ path: g.config, overrides: g.namespace ? { namespace: g.namespace } : undefined });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

/** Where the CLI's own lines go; tests that run the CLI in-process pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const PROCESS_IO: CliIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

/** Any failure as one line with its registry code (never a stack trace; WMS_DEBUG=1 adds it); returns the exit code. */
export function reportError(e: unknown, io: CliIo = PROCESS_IO): number {
  const w = toWmsError(e);
  io.err(`wms: error ${w.toLine()}\n`);
  if (process.env.WMS_DEBUG && e instanceof Error && !isWmsError(e)) io.err(`${e.stack ?? ""}\n`);
  return exitCodeFor(w.code);
}

/** A system error a user can act on gets its own code; anything else is INTERNAL, first line only. */
export function toWmsError(e: unknown): WmsError {
  if (isWmsError(e)) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const sys = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (sys.code === "EADDRINUSE") return new WmsError(ERR.PORT_IN_USE, `${sys.address ?? "the address"}:${sys.port ?? "?"} (${sys.syscall ?? "listen"})`);
  if (sys.code === "EACCES" && sys.syscall === "listen") return new WmsError(ERR.BAD_PORT, `not allowed to listen on ${sys.address ?? ""}:${sys.port ?? "?"} (ports below 1024 need privileges)`);
  return new WmsError(ERR.INTERNAL, err.message.split("\n")[0] || err.name);
}

export function fail(e: unknown): never {
  process.exit(reportError(e));
}

/** A one-line warning on stderr (deprecated spellings, a request the command had to change). */
export function warn(message: string): void {
  process.stderr.write(`wms: warning: ${message}\n`);
}

/**
 * A command action. Its failures travel up to the program's runner (cli/program.ts runWms), which
 * prints the one line and picks the exit code, so every command, old or new, fails the same way.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    await fn(...args);
  };
}

/**
 * For long-running services: waits for SIGINT/SIGTERM, runs `stop` (drain, close connections), then
 * exits. A service must not linger on a handle some library forgot to close, and an operator's
 * second Ctrl-C, or a stop that takes longer than `graceMs`, ends it at once with exit 1.
 */
export async function serveUntilStopped(stop: () => Promise<void>, o: { graceMs?: number; onSignal?: () => void } = {}): Promise<never> {
  // Started by `wms up`: tell the supervisor this service now serves (sd_notify's READY=1, over Node's IPC channel).
  process.send?.(READY_MESSAGE);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  o.onSignal?.();
  const force = (why: string) => (): void => {
    process.stderr.write(`wms: stopped without draining (${why})\n`);
    process.exit(EXIT.failed);
  };
  process.once("SIGINT", force("second signal"));
  process.once("SIGTERM", force("second signal"));
  setTimeout(force(`stop took over ${(o.graceMs ?? 15_000) / 1000} s`), o.graceMs ?? 15_000).unref();
  await stop();
  process.exit(EXIT.ok);
}

export function parseIntOption(name: string, min = 0): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < min) throw new WmsError(ERR.USAGE, `${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
}

export function parseNumberOption(name: string, min = 0): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min) throw new WmsError(ERR.USAGE, `${name} must be a number >= ${min}, got '${v}'`);
    return n;
  };
}

/** A TCP port for a server to listen on: 0..65535, 0 meaning any free port. */
export function parsePortOption(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n > 65535) throw new WmsError(ERR.BAD_PORT, `${name} '${v}'`);
    return n;
  };
}

/**
 * Keeps an old spelling of an option working, hidden from --help: using it prints one deprecation
 * warning and sets the canonical option (unless that was given too). `flags` is the old option,
 * e.g. "--sites <file>"; `canonical` the new one's long flag, e.g. "--sites-file".
 */
export function deprecatedAlias(cmd: Command, flags: string, canonical: string): Command {
  const old = new Option(flags, `deprecated spelling of ${canonical}`).hideHelp();
  const target = cmd.options.find((o) => o.long === canonical);
  if (target === undefined) throw new Error(`deprecatedAlias: ${cmd.name()} has no option ${canonical}`);
  if (target.parseArg) old.argParser(target.parseArg);
  cmd.addOption(old);
  cmd.hook("preAction", (_self, actionCmd) => {
    if (actionCmd !== cmd) return;
    const value: unknown = cmd.getOptionValue(old.attributeName());
    if (value === undefined) return;
    warn(`${old.long ?? flags} is deprecated; use ${canonical}`);
    if (cmd.getOptionValue(target.attributeName()) === undefined || cmd.getOptionValueSource(target.attributeName()) === "default") cmd.setOptionValue(target.attributeName(), value);
  });
  return cmd;
}
