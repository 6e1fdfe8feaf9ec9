// gLExec's intermediate wrapper: after the uid change the pilot's environment is gone
// (and a setuid loader drops LD_LIBRARY_PATH and friends), so the payload starts through a generated
// script that exports every variable explicitly, then execs the payload. Pure: returns the text.
import { ERR, WmsError } from "../schemas/index.ts";

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** POSIX sh single quoting: the only character that needs care inside '...' is ' itself. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function wrapperScript(o: { readonly env: Readonly<Record<string, string>>; readonly workdir: string; readonly jobId: string }): string {
  const lines = ["#!/bin/sh", `# pilot-wms: recreates the environment of job ${o.jobId.replace(/[^A-Za-z0-9._:@-]/g, "?")} after the identity switch, then runs it.`];
  for (const [k, v] of Object.entries(o.env)) {
    if (!NAME.test(k)) throw new WmsError(ERR.BAD_INPUT, `environment variable name '${k}' is not a shell name`);
    if (v.includes("\0")) throw new WmsError(ERR.BAD_INPUT, `environment variable ${k} holds a NUL byte`);
    lines.push(`export ${k}=${shellQuote(v)}`);
  }
  // Files the payload creates are its user's alone until the pilot takes the directory back.
  lines.push("umask 077", `cd ${shellQuote(o.workdir)} || exit 111`, 'exec "$@"', "");
  return lines.join("\n");
}
