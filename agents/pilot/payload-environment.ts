// The environment a payload starts with. Built from nothing, never copied from the pilot's own:
// the pilot's environment holds its token (WMS_PILOT_TOKEN) and the payload must not see it.
import type { JobSpec } from "../../schemas/index.ts";

export interface PayloadEnvInput {
  readonly job: JobSpec;
  readonly jobDir: string;
  readonly outputsDir: string;
  /** Input paths relative to the job dir, in catalog order. */
  readonly inputs: readonly string[];
  readonly proxyPath: string;
  readonly pilotId: string;
  /** PATH for the payload; the pilot passes its own so site software stays findable. */
  readonly path: string;
}

/** Names the pilot sets itself; a job's environment cannot override them. */
export const PILOT_SET_VARIABLES = ["HOME", "PWD", "PATH", "X509_USER_PROXY", "WMS_JOB_ID", "WMS_TASK_ID", "WMS_SITE", "WMS_ATTEMPT", "WMS_PILOT_ID", "WMS_INPUTS", "WMS_OUTPUT_DIR"] as const;

export function payloadEnvironment(i: PayloadEnvInput): Record<string, string> {
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
    WMS_INPUTS: i.inputs.join("\n"),
    WMS_OUTPUT_DIR: i.outputsDir,
  };
}
