// Slurm: one batch script per pilot, handed to sbatch if it is installed here. The token is a 0600
// file on the shared file system (pilot-token-file.ts), never in the script, the arguments or the
// job's environment (scontrol shows that to the job's owner and admins, /proc to the payload).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ERR, WmsError } from "../../schemas/index.ts";
import type { PilotLaunch } from "../pilot-command.ts";
import type { BatchAdapterOptions } from "./condor-adapter.ts";
import { findExecutable } from "./executable-lookup.ts";
import { PILOT_INHERITED_ENV, pilotBaseEnv } from "./pilot-base-env.ts";
import { runSubmitTool } from "./run-submit-tool.ts";
import { slurmBatchScript } from "./slurm-batch-script.ts";
import { submitEachPilot } from "./submit-each-pilot.ts";
import type { BatchState, SubmitAdapter, SubmitContext, SubmitOutcome } from "./submit-adapter.ts";

/** Slurm job states (squeue %T) that mean the job still waits or runs; any other, or absent, is gone. */
const SLURM_QUEUED = new Set(["PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "SUSPENDED"]);
const SLURM_RUNNING = new Set(["RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING"]);

/** `squeue -h -o "%i %T"` lines → job id → state. Pure, so tests feed it text. */
export function parseSqueue(text: string): Map<string, BatchState> {
  const out = new Map<string, BatchState>();
  for (const line of text.split("\n")) {
    const [id, state] = line.trim().split(/\s+/);
    if (!id || state === undefined) continue;
    out.set(id, SLURM_QUEUED.has(state) ? "queued" : SLURM_RUNNING.has(state) ? "running" : "gone");
  }
  return out;
}

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
    mkdirSync(scriptDir, { recursive: true, mode: 0o700 });
    const base = pilotBaseEnv(this.opts.env);
    // Slurm has no file transfer: the token file sits in the queue's log folder on the shared file system.
    return submitEachPilot(pilots, logDir, async (pilot, wrote) => {
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
      wrote(file);
      const out = await runSubmitTool(tool, [file], { ...base, ...script.submitEnv });
      const id = /Submitted batch job (\d+)/.exec(out)?.[1];
      if (id) this.jobIds.push(id);
      return id;
    });
  }

  /**
   * squeue's view of the pilots with a job id: listed by the job name the batch script sets; a job
   * id squeue no longer lists has ended: gone. When squeue is missing or fails, nothing is known.
   */
  async query(pilots: ReadonlyArray<{ readonly pilotId: string; readonly batchId?: string }>, ctx: { readonly queue: { readonly name: string } }): Promise<ReadonlyMap<string, BatchState>> {
    const tool = findExecutable("squeue", this.opts.env.PATH);
    const withIds = pilots.filter((p) => p.batchId !== undefined);
    if (!tool || withIds.length === 0) return new Map();
    let text: string;
    try {
      text = await runSubmitTool(tool, ["-h", "-o", "%i %T", "--name", `wms-pilot-${ctx.queue.name}`], pilotBaseEnv(this.opts.env));
    } catch {
      return new Map();
    }
    const seen = parseSqueue(text);
    return new Map(withIds.map((p) => [p.pilotId, seen.get(p.batchId ?? "") ?? "gone"]));
  }
}
