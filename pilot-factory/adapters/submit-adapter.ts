// The seam between the factory's decisions and a batch system. One adapter per kind of resource:
// local processes (default), HTCondor, Slurm. The factory asks `unavailable()` before it mints
// tokens, so a queue whose submit tool is missing costs nothing but a status line.
import type { FactoryQueue, WmsError } from "../../schemas/index.ts";
import type { PilotCommandBuilder, PilotLaunch, PilotRuntime } from "../pilot-command.ts";

export interface SubmitContext {
  readonly factoryId: string;
  readonly queue: FactoryQueue;
  /** This queue's folder under the factory work dir: logs, submit files. */
  readonly queueDir: string;
  readonly runtime: PilotRuntime;
  readonly pilotCommand: PilotCommandBuilder;
}

export interface SubmitOutcome {
  /** Pilot ids the batch system accepted. */
  readonly submitted: readonly string[];
  /** Pilot ids it did not, with why. */
  readonly failed: ReadonlyArray<{ readonly pilotId: string; readonly message: string }>;
  /** Files written for this submission (logs, submit descriptions, scripts). */
  readonly files: readonly string[];
  /** The batch system's id of each accepted pilot, kept in the census so a restarted factory can ask after it. */
  readonly batchIds?: Readonly<Record<string, string>>;
}

/**
 * What the batch system says of one pilot: waiting in its queue, running, or no longer there
 * (finished, removed, never started). Harvester asks the same of its batch systems every cycle.
 */
export type BatchState = "queued" | "running" | "gone";

export interface BatchQueryContext {
  readonly factoryId: string;
  readonly queue: FactoryQueue;
}

export interface SubmitAdapter {
  readonly kind: FactoryQueue["adapter"];
  /** `undefined` when this adapter can submit here; otherwise the error that says why not. */
  unavailable(): WmsError | undefined;
  submit(pilots: readonly PilotLaunch[], ctx: SubmitContext): Promise<SubmitOutcome>;
  /**
   * The batch system's view of these pilots (the local process table, condor_q, squeue). Pilots
   * it cannot tell about are left out of the map: unknown, not gone. Never throws.
   */
  query?(pilots: ReadonlyArray<{ readonly pilotId: string; readonly batchId?: string }>, ctx: BatchQueryContext): Promise<ReadonlyMap<string, BatchState>>;
}
