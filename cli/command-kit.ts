// What every command shares: one-line errors with their registry code (never a stack trace),
// `--json` output, and the config loaded once per invocation.
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { Option, type Command } from "commander";
import { ERR, WmsError } from "../schemas/index.ts";
import { isNamespace } from "../schemas/names.ts";
import { loadConfig, type LoadedConfig } from "../platform/config.ts";
import { packageRoot } from "../deployment/package-root.ts";
import { READY_MESSAGE, UP_SUPERVISOR_ENV } from "../deployment/ready-message.ts";
import { isAlive, privateServicesOf, readUpState } from "../deployment/up-state.ts";
import { rememberConfigOrigin } from "./deployment-hint.ts";
import { EXIT, reportError } from "./error-reporting.ts";

export { withAwayNote } from "./deployment-hint.ts";
export { EXIT, EXIT_CODES_HELP, exitCodeFor, PROCESS_IO, reportError, toWmsError, type CliIo } from "./error-reporting.ts";

export interface GlobalOptions {
  config?: string;
  namespace?: string;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/**
 * `--namespace` checked as a command-line value (E1008), before it reaches a config whose schema
 * would refuse it as a bad wms.yaml (E1002), or a wms.yaml `wms init` writes.
 */
export function checkNamespaceOption(ns: string | undefined): void {
  if (ns !== undefined && !isNamespace(ns)) {
    throw new WmsError(ERR.USAGE, `--namespace '${ns}': lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters`);
  }
}

export function configFor(cmd: Command): LoadedConfig {
  const g = globalOptions(cmd);
  checkNamespaceOption(g.namespace);
  // A deployment `wms up` runs on private servers: this command connects to them, not to the file's URLs.
  const loaded = loadConfig({ path: g.config, overrides: g.namespace ? { namespace: g.namespace } : undefined, runningServices: privateServicesOf });
  const up = loaded.path === undefined ? undefined : readUpState(dirname(resolve(loaded.path)));
  rememberConfigOrigin({ path: loaded.path, namespace: loaded.names.namespace, upRunning: up !== undefined && isAlive(up.supervisor) });
  return loaded;
}

/** How the user ran `wms`, for the commands a command suggests next: `npx wms` under npx (no global install), so they paste as they are. */
export function wmsCommand(): string {
  return process.env.npm_command === "exec" ? "npx wms" : "wms";
}

/**
 * The command to suggest for running `wms` in `dir`, and a step to take once before it. `npx wms`
 * finds the clone's `wms` only in the clone and the folders under it: elsewhere npx looks for a
 * package named `wms` in the npm registry, which is not this one. There the suggestion is `wms`,
 * after `npm link` in the clone (README, "Your own deployment on one machine").
 */
export function wmsCommandIn(dir: string, command: string = wmsCommand(), clone: string = packageRoot()): { readonly wms: string; readonly setup?: string } {
  if (command !== "npx wms") return { wms: command };
  const rel = relative(clone, resolve(dir));
  if (!rel.startsWith("..") && !isAbsolute(rel)) return { wms: command };
  return { wms: "wms", setup: `(cd ${clone} && npm link)   # once: puts 'wms' on your PATH; 'npx wms' finds it only inside ${clone}` };
}

/**
 * How a long-running command stops, for its start line: `standalone` ("Ctrl-C stops it") when run
 * by hand; under `wms up` the supervisor's Ctrl-C or `wms down`, which stop everything it runs.
 */
export function stopHint(standalone: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const mode = env[UP_SUPERVISOR_ENV];
  if (mode === "attached") return "run by 'wms up': Ctrl-C in its terminal stops everything";
  if (mode === "detached") return `run by 'wms up --detach': '${wmsCommand()} down' stops everything`;
  return standalone;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
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
 * An address for a server of ours to listen on: an IP address of this machine (0.0.0.0 and :: for
 * all of them) or a host name. Checked here, so that a mistyped address is a usage error naming the
 * option, not the E1000 INTERNAL that getaddrinfo's ENOTFOUND or listen's EADDRNOTAVAIL became.
 * A name that looks like an address (`999.1.1.1`: RFC 1123 2.1, a top-level label is never all
 * digits) is checked as one.
 */
export function parseListenHost(name: string): (v: string) => string {
  return (v: string) => {
    const host = v.trim();
    const ipVersion = isIP(host);
    if (ipVersion === 0) {
      const labels = host.split(".");
      const hostname = host.length <= 253 && labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) && !/^\d+$/.test(labels[labels.length - 1]);
      if (!hostname) throw new WmsError(ERR.USAGE, `${name} '${v}': not an IP address or a host name`);
      return host;
    }
    if (host === "0.0.0.0" || host === "::") return host;
    const own = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
    if (!own.includes(host)) throw new WmsError(ERR.USAGE, `${name} '${v}': not an address of this machine (its addresses: ${own.join(", ")})`);
    return host;
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
