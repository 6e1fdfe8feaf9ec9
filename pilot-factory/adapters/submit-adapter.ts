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
}

export interface SubmitAdapter {
  readonly kind: FactoryQueue["adapter"];
  /** `undefined` when this adapter can submit here; otherwise the error that says why not. */
  unavailable(): WmsError | undefined;
  submit(pilots: readonly PilotLaunch[], ctx: SubmitContext): Promise<SubmitOutcome>;
  /** Adapters that can see their pilots' processes: ids gone for at least `graceMs` (reported once). */
  vanished?(nowMs: number, graceMs: number): string[];
}
