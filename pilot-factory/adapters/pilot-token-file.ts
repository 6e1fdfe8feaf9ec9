// The token reaches a pilot as a file only the factory's account can read (0600, in the queue's
// 0700 log folder); the pilot deletes it once read. See PilotLaunch.tokenFile for why not the
// environment.
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";

export function pilotTokenFile(logDir: string, pilotId: string): string {
  return path.join(logDir, `${pilotId}.token`);
}

export function writePilotTokenFile(logDir: string, pilotId: string, token: string): string {
  const file = pilotTokenFile(logDir, pilotId);
  writeFileSync(file, token, { mode: 0o600 });
  return file;
}

/** For a pilot that was never started: its token file must not outlive the attempt. */
export function removePilotTokenFile(file: string): void {
  rmSync(file, { force: true });
}
