import type { Command } from "commander";
import { ERR, WmsError } from "../schemas/index.ts";

/** Placeholder until the job-state agent keeps error counters (issue #7). */
export async function errorsSummaryCommand(_cmd: Command, _opts: { json?: boolean }): Promise<void> {
  throw new WmsError(ERR.NOT_IMPLEMENTED, "'wms errors summary' needs the job-state agent (issue #7)");
}
