// Slurm: one batch script per pilot, handed to sbatch if it is installed here. The token rides in
// sbatch's environment (exported by name), never in the script or the arguments.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ERR, WmsError } from "../../schemas/index.ts";
import type { PilotLaunch } from "../pilot-command.ts";
import type { BatchAdapterOptions } from "./condor-adapter.ts";
import { findExecutable } from "./executable-lookup.ts";
import { PILOT_INHERITED_ENV, pilotBaseEnv } from "./pilot-base-env.ts";
import { runSubmitTool } from "./run-submit-tool.ts";
import { slurmBatchScript } from "./slurm-batch-script.ts";
import type { SubmitAdapter, SubmitContext, SubmitOutcome } from "./submit-adapter.ts";

export class SlurmAdapter implements SubmitAdapter {
  readonly kind = "slurm" as const;
  readonly jobIds: string[] = [];

  constructor(private readonly opts: BatchAdapterOptions) {}

  private tool(): string | undefined {
    return findExecutable("sbatch", this.opts.env.PATH);
  }

  unavailable(): WmsError | undefined {
    return this.tool() ? undefined : new WmsError(ERR.FACTORY_SUBMIT_TOOL_MISSING, "sbatch is not on PATH; install Slurm's client tools or set the queue's adapter to local");
  }

  async submit(pilots: readonly PilotLaunch[], ctx: SubmitContext): Promise<SubmitOutcome> {
    const tool = this.tool();
    if (!tool) throw this.unavailable();
    const logDir = path.join(ctx.queueDir, "logs");
    const scriptDir = path.join(ctx.queueDir, "slurm");
    mkdirSync(logDir, { recursive: true, mode: 0o700 });
    mkdirSync(scriptDir, { recursive: true, mode: 0o700 });
    const base = pilotBaseEnv(this.opts.env);
    const submitted: string[] = [];
    const failed: Array<{ pilotId: string; message: string }> = [];
    const files: string[] = [];
    for (const pilot of pilots) {
      const script = slurmBatchScript({
        factoryId: ctx.factoryId,
        queue: ctx.queue,
        pilot,
        runtime: ctx.runtime,
        pilotCommand: ctx.pilotCommand,
        logDir,
        cpusPerPilot: this.opts.cpusPerPilot,
        inheritEnv: PILOT_INHERITED_ENV.filter((k) => base[k] !== undefined),
      });
      const file = path.join(scriptDir, `${pilot.pilotId}.sh`);
      writeFileSync(file, script.text, { mode: 0o700 });
      files.push(file);
      try {
        const out = await runSubmitTool(tool, [file], { ...base, ...script.submitEnv });
        const id = /Submitted batch job (\d+)/.exec(out)?.[1];
        if (id) this.jobIds.push(id);
        submitted.push(pilot.pilotId);
      } catch (e) {
        failed.push({ pilotId: pilot.pilotId, message: (e as Error).message });
      }
    }
    return { submitted, failed, files };
  }
}
