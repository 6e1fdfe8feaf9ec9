// HTCondor: one submit description per cycle, handed to condor_submit if it is installed here.
// Where it is not, the adapter says so (FACTORY_SUBMIT_TOOL_MISSING) and the factory mints nothing.
import { mkdirSync, writeFileSync } from "node:fs";
import { writePilotTokenFile } from "./pilot-token-file.ts";
import path from "node:path";
import { ERR, WmsError } from "../../schemas/index.ts";
import type { PilotLaunch } from "../pilot-command.ts";
import { condorSubmitDescription } from "./condor-submit-description.ts";
import { findExecutable } from "./executable-lookup.ts";
import { pilotBaseEnv } from "./pilot-base-env.ts";
import { runSubmitTool } from "./run-submit-tool.ts";
import type { BatchQueryContext, BatchState, SubmitAdapter, SubmitContext, SubmitOutcome } from "./submit-adapter.ts";

/** HTCondor's JobStatus codes (the job ClassAd attribute): 1 idle, 2 running, 3 removed, 4 completed, 5 held, 6 transferring output, 7 suspended. */
const CONDOR_STATE: Readonly<Record<string, BatchState>> = { "1": "queued", "2": "running", "3": "gone", "4": "gone", "5": "queued", "6": "running", "7": "running" };

/** `condor_q -af WmsPilotId JobStatus` lines → pilot id → state. Pure, so tests feed it text. */
export function parseCondorQ(text: string): Map<string, BatchState> {
  const out = new Map<string, BatchState>();
  for (const line of text.split("\n")) {
    const [id, status] = line.trim().split(/\s+/);
    if (!id || id === "undefined" || status === undefined) continue;
    const state = CONDOR_STATE[status];
    if (state) out.set(id, state);
  }
  return out;
}

export interface BatchAdapterOptions {
  /** The factory's environment: PATH finds the submit tool; allowlisted variables reach the tool. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cpusPerPilot?: number;
}

export class CondorAdapter implements SubmitAdapter {
  readonly kind = "condor" as const;
  /** The last cluster ids condor_submit reported, for the status log. */
  readonly clusters: string[] = [];

  constructor(private readonly opts: BatchAdapterOptions) {}

  private tool(): string | undefined {
    return findExecutable("condor_submit", this.opts.env.PATH);
  }

  unavailable(): WmsError | undefined {
    return this.tool() ? undefined : new WmsError(ERR.FACTORY_SUBMIT_TOOL_MISSING, "condor_submit is not on PATH; install HTCondor's tools or set the queue's adapter to local");
  }

  async submit(pilots: readonly PilotLaunch[], ctx: SubmitContext): Promise<SubmitOutcome> {
    const tool = this.tool();
    if (!tool) throw this.unavailable();
    if (pilots.length === 0) return { submitted: [], failed: [], files: [] };
    const logDir = path.join(ctx.queueDir, "logs");
    const subDir = path.join(ctx.queueDir, "condor");
    mkdirSync(logDir, { recursive: true, mode: 0o700 });
    mkdirSync(subDir, { recursive: true, mode: 0o700 });
    for (const p of pilots) writePilotTokenFile(logDir, p.pilotId, p.token);
    const text = condorSubmitDescription({ factoryId: ctx.factoryId, queue: ctx.queue, pilots, runtime: ctx.runtime, pilotCommand: ctx.pilotCommand, logDir, cpusPerPilot: this.opts.cpusPerPilot });
    const file = path.join(subDir, `pilots-${Date.now()}-${pilots[0].pilotId}.sub`);
    writeFileSync(file, text, { mode: 0o600 });
    const out = await runSubmitTool(tool, [file], pilotBaseEnv(this.opts.env));
    const cluster = /submitted to cluster (\d+)/.exec(out)?.[1];
    if (cluster) this.clusters.push(cluster);
    const batchIds: Record<string, string> = {};
    if (cluster) pilots.forEach((p, i) => (batchIds[p.pilotId] = `${cluster}.${i}`));
    return { submitted: pilots.map((p) => p.pilotId), failed: [], files: [file], batchIds };
  }

  /**
   * condor_q's view of this queue's pilots (by the +WmsFactory/+WmsQueue attributes the submit
   * description sets). A pilot no longer in the queue has finished or was removed: gone. When
   * condor_q is missing or fails, nothing is known.
   */
  async query(pilots: ReadonlyArray<{ readonly pilotId: string }>, ctx: BatchQueryContext): Promise<ReadonlyMap<string, BatchState>> {
    const tool = findExecutable("condor_q", this.opts.env.PATH);
    if (!tool || pilots.length === 0) return new Map();
    const constraint = `WmsFactory == "${ctx.factoryId}" && WmsQueue == "${ctx.queue.name}"`;
    let text: string;
    try {
      text = await runSubmitTool(tool, ["-constraint", constraint, "-af", "WmsPilotId", "JobStatus"], pilotBaseEnv(this.opts.env));
    } catch {
      return new Map();
    }
    const seen = parseCondorQ(text);
    return new Map(pilots.map((p) => [p.pilotId, seen.get(p.pilotId) ?? "gone"]));
  }
}
