// What every command shares: one-line errors with their registry code (never a stack trace),
// `--json` output, and the config loaded once per invocation.
import type { Command } from "commander";
import { ERR, isWmsError, WmsError } from "../schemas/index.ts";
import { loadConfig, type LoadedConfig } from "../platform/config.ts";

/** Exit codes: 0 ok, 1 the operation failed, 2 usage or not built. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

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

export function fail(e: unknown): never {
  if (isWmsError(e)) {
    process.stderr.write(`wms: error ${e.toLine()}\n`);
    process.exit(e.code === ERR.NOT_IMPLEMENTED ? EXIT.usage : EXIT.failed);
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const wrapped = new WmsError(ERR.INTERNAL, err.message.split("\n")[0] || err.name);
  process.stderr.write(`wms: error ${wrapped.toLine()}\n`);
  if (process.env.WMS_DEBUG) process.stderr.write(`${err.stack ?? ""}\n`);
  process.exit(EXIT.failed);
}

/** Wraps a command action so any failure becomes one clear line and a non-zero exit. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      fail(e);
    }
  };
}

/**
 * For long-running services: waits for SIGINT/SIGTERM, runs `stop` (drain, close connections), then
 * exits. A service must not linger on a handle some library forgot to close, and an operator's
 * second Ctrl-C, or a stop that takes longer than `graceMs`, ends it at once with exit 1.
 */
export async function serveUntilStopped(stop: () => Promise<void>, o: { graceMs?: number; onSignal?: () => void } = {}): Promise<never> {
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
    if (!Number.isInteger(n) || n < min) throw new WmsError(ERR.BAD_INPUT, `${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
}

export function parseNumberOption(name: string, min = 0): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new WmsError(ERR.BAD_INPUT, `${name} must be a number >= ${min}, got '${v}'`);
    return n;
  };
}
