// Adapters that submit pilots one at a time (local processes, one sbatch per pilot): each pilot's
// token file, its submission and the outcome, in one place. A pilot whose submission fails was never
// started, so its token file is deleted: a token nobody will read must not lie around.
import { mkdirSync } from "node:fs";
import type { PilotLaunch } from "../pilot-command.ts";
import { removePilotTokenFile, writePilotTokenFile } from "./pilot-token-file.ts";
import type { SubmitOutcome } from "./submit-adapter.ts";

/**
 * Submits each pilot with `submitOne` (given the pilot with its token file, and `wrote` to list the
 * files it wrote), which returns the pilot's batch id if it has one and throws if it failed.
 */
export async function submitEachPilot(
  pilots: readonly PilotLaunch[],
  logDir: string,
  submitOne: (pilot: PilotLaunch & { readonly tokenFile: string }, wrote: (file: string) => void) => Promise<string | undefined>,
): Promise<SubmitOutcome> {
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const submitted: string[] = [];
  const failed: Array<{ pilotId: string; message: string }> = [];
  const files: string[] = [];
  const batchIds: Record<string, string> = {};
  for (const pilot of pilots) {
    const tokenFile = writePilotTokenFile(logDir, pilot.pilotId, pilot.token);
    try {
      const batchId = await submitOne({ ...pilot, tokenFile }, (f) => files.push(f));
      if (batchId !== undefined) batchIds[pilot.pilotId] = batchId;
      submitted.push(pilot.pilotId);
    } catch (e) {
      removePilotTokenFile(tokenFile);
      failed.push({ pilotId: pilot.pilotId, message: (e as Error).message });
    }
  }
  return { submitted, failed, files, batchIds };
}
