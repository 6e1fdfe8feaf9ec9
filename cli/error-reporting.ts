// How a `wms` failure reaches the user: exit codes, the one coded line, the --help footer. Kept
// apart from command-kit.ts and importing the error registry's own files rather than schemas/'
// index, so that `wms --help` and a usage error load no message schema (TypeBox) and no config.
import { ERR } from "../schemas/error-codes.ts";
import { isWmsError, toWmsError } from "../schemas/wms-error.ts";

/**
 * Exit codes: 0 ok; 1 the operation failed (the error line names why); 2 the command line is wrong
 * (unknown command or option, missing argument, bad value): nothing was attempted; 3 only where asked (`wms task status --watch --exit-status`): the watched task ended
 * other than done. `wms --help` prints this table (EXIT_CODES_HELP).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, taskNotDone: 3 } as const;

/** Codes that mean "fix the command line", whatever raised them; they exit with EXIT.usage. */
const USAGE_CODES: ReadonlySet<number> = new Set([ERR.USAGE, ERR.BAD_PORT, ERR.UNKNOWN_CATEGORY]);

export function exitCodeFor(code: number): number {
  return USAGE_CODES.has(code) ? EXIT.usage : EXIT.failed;
}

export const EXIT_CODES_HELP = [
  "Exit codes:",
  `  ${EXIT.ok}  success`,
  `  ${EXIT.failed}  the operation failed; stderr holds one line 'wms: error E<code> <NAME>: <message>' ('wms errors <code>' explains it)`,
  `  ${EXIT.usage}  the command line is wrong (E${ERR.USAGE} USAGE, E${ERR.BAD_PORT} BAD_PORT, E${ERR.UNKNOWN_CATEGORY} UNKNOWN_CATEGORY); nothing was done`,
  `  ${EXIT.taskNotDone}  'wms task status --watch --exit-status' only: the task ended partial, broken or aborted`,
].join("\n");

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
  // A coded error wrapping a client's (a hint added to it) still shows the client's stack.
  const origin = isWmsError(e) && e.cause instanceof Error ? e.cause : e;
  if (process.env.WMS_DEBUG && origin instanceof Error && !isWmsError(origin)) io.err(`${origin.stack ?? ""}\n`);
  return exitCodeFor(w.code);
}

export { toWmsError };
