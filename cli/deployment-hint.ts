// Where the deployment a command talked to came from, so that "found nothing" and "no server
// answers" can say what to do: a `wms` run outside the folder `wms init` made finds no wms.yaml,
// falls back to the defaults (namespace `wms`) and sees none of the user's tasks; a folder whose
// `wms up` was stopped has nothing answering at its addresses. One command per process, so the
// origin is remembered once, by configFor, and read where the command reports. Imports nothing
// heavy: error reporting reads it.
import { dirname, resolve } from "node:path";
import { ERR } from "../schemas/error-codes.ts";
import { toWmsError, WmsError } from "../schemas/wms-error.ts";

export interface ConfigOrigin {
  /** The wms.yaml the command loaded; undefined when none was found (the defaults). */
  readonly path: string | undefined;
  readonly namespace: string;
  /** Whether a `wms up` supervisor runs for the folder of `path`. */
  readonly upRunning: boolean;
}

let origin: ConfigOrigin | undefined;

export function rememberConfigOrigin(o: ConfigOrigin | undefined): void {
  origin = o;
}

/**
 * For a command that found nothing: when no wms.yaml was found, why (the defaults' namespace is
 * not the deployment's) and what to do. Empty when a wms.yaml was used.
 */
function awayFromDeploymentNote(): string {
  if (origin === undefined || origin.path !== undefined) return "";
  return `no wms.yaml here, so namespace '${origin.namespace}' at the default addresses: run this in your deployment's folder or give --config DIR/wms.yaml`;
}

/**
 * For a listing that came back empty or an id not found: `fact`, then the note when no wms.yaml was
 * found, or else `advice` (what to do in the right namespace: useless advice in the wrong one).
 */
export function withAwayNote(fact: string, advice?: string): string {
  const next = awayFromDeploymentNote() || advice;
  return next ? `${fact}; ${next}` : fact;
}

/**
 * What a SERVICE_UNAVAILABLE line adds: where the command looked, and what to run next. (A
 * NOT_FOUND says it where the lookup is, withAwayNote: only there is the namespace the question.)
 */
function hint(e: WmsError): string | undefined {
  if (origin === undefined || e.code !== ERR.SERVICE_UNAVAILABLE) return undefined;
  const away = awayFromDeploymentNote();
  if (away !== "") return away;
  // The folder is right; a server does not answer there. A message that already names 'wms up' says what to do.
  if (origin.path === undefined || e.detail.includes("'wms up")) return undefined;
  const dir = dirname(resolve(origin.path));
  return origin.upRunning
    ? "'wms services check' tells which service does not answer, 'wms status' what 'wms up' runs"
    : `'wms up' does not run for ${dir} ('wms up --detach' starts it there); 'wms services check' tells which service does not answer`;
}

/** `e` with the hint appended to its detail, when there is one; otherwise `e` as it is. */
export function withDeploymentHint(e: unknown): unknown {
  const w = toWmsError(e);
  const h = hint(w);
  return h === undefined ? e : new WmsError(w.code, w.detail ? `${w.detail}; ${h}` : h, { cause: e });
}
