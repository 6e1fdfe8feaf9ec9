// The environment a payload starts with. Built from nothing, never copied from the pilot's own:
// the pilot's environment holds its token (WMS_PILOT_TOKEN) and the payload must not see it.
import path from "node:path";
import { ERR, WmsError, type JobSpec } from "../../schemas/index.ts";

export interface PayloadEnvInput {
  readonly job: JobSpec;
  readonly jobDir: string;
  readonly outputsDir: string;
  /** Input paths relative to the job dir, in catalog order (the payload gets them absolute). */
  readonly inputs: readonly string[];
  readonly proxyPath: string;
  readonly pilotId: string;
  /** PATH for the payload; the pilot passes its own so site software stays findable. */
  readonly path: string;
}

/** Names the pilot sets itself; a job's environment cannot override them. */
export const PILOT_SET_VARIABLES = ["HOME", "PWD", "PATH", "X509_USER_PROXY", "WMS_JOB_ID", "WMS_TASK_ID", "WMS_SITE", "WMS_ATTEMPT", "WMS_PILOT_ID", "WMS_INPUTS", "WMS_OUTPUT_DIR"] as const;

/**
 * The payload contract (agents/pilot/README.md): every path in it is absolute, because the payload
 * runs with its job folder as cwd and may `cd` elsewhere. A relative job folder is a wiring bug in
 * the pilot, refused here rather than handed to a payload that would write to the wrong place.
 */
export function payloadEnvironment(i: PayloadEnvInput): Record<string, string> {
  for (const [name, p] of [["job folder", i.jobDir], ["outputs folder", i.outputsDir], ["proxy", i.proxyPath]] as const) {
    if (!path.isAbsolute(p)) throw new WmsError(ERR.PILOT_WORKDIR_FAILED, `the payload's ${name} must be an absolute path, got '${p}'`);
  }
  const env: Record<string, string> = { LANG: "C.UTF-8" };
  for (const [k, v] of Object.entries(i.job.environment)) if (!(PILOT_SET_VARIABLES as readonly string[]).includes(k)) env[k] = v;
  return {
    ...env,
    HOME: i.jobDir,
    PWD: i.jobDir,
    PATH: i.path,
    X509_USER_PROXY: i.proxyPath,
    WMS_JOB_ID: i.job.jobId,
    WMS_TASK_ID: i.job.taskId,
    WMS_SITE: i.job.site,
    WMS_ATTEMPT: String(i.job.attempt),
    WMS_PILOT_ID: i.pilotId,
    // Newline-separated: lfns may hold spaces and colons, never newlines (schema pattern forbids \0 only, catalog names are single-line).
    WMS_INPUTS: i.inputs.map((p) => path.resolve(i.jobDir, p)).join("\n"),
    WMS_OUTPUT_DIR: i.outputsDir,
  };
}
