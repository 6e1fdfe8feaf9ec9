// A pilot killed with SIGKILL cannot clean up: its payload (which leads its own process group)
// lives on, adopted by init, and the user's proxy, the pilot's token and key stay on disk. The next
// pilot on the node does it for it (no credential may outlive its job on a shared node): before it asks for work it kills what still runs in a
// dead pilot's directory and deletes that directory.
import { readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { isAlive, startTicks } from "../../platform/process-identity.ts";

export const PILOT_PID_FILE = "pilot.pid";

/** Records this process as the owner of `pilotDir`. */
export function claimPilotDir(pilotDir: string): void {
  writeFileSync(path.join(pilotDir, PILOT_PID_FILE), `${process.pid} ${startTicks(process.pid) ?? ""}\n`, { mode: 0o644 });
}

function ownerAlive(pilotDir: string): boolean | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(pilotDir, PILOT_PID_FILE), "utf8");
  } catch {
    return undefined; // not a pilot dir, or one whose pilot is still starting: leave it alone
  }
  const [pidText, ticks] = text.trim().split(" ");
  return isAlive({ pid: Number(pidText), startTicks: ticks || undefined });
}

/** Processes whose working directory lies inside `dir` (payloads run in their job dir). */
function processesIn(dir: string): number[] {
  const out: number[] = [];
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(prefix)) out.push(Number(entry));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

export interface SweptPilot {
  readonly pilotDir: string;
  readonly killed: number[];
}

/** Kills what dead pilots left running under `workdir` and deletes their directories. */
export function sweepDeadPilots(workdir: string, self: string): SweptPilot[] {
  let entries: string[];
  try {
    entries = readdirSync(workdir);
  } catch {
    return [];
  }
  const swept: SweptPilot[] = [];
  for (const name of entries) {
    const pilotDir = path.join(workdir, name);
    if (pilotDir === self || ownerAlive(pilotDir) !== false) continue;
    const killed = processesIn(pilotDir);
    for (const pid of killed) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, "SIGKILL");
        } catch {
          /* not a group leader, or already gone */
        }
      }
    }
    rmSync(pilotDir, { recursive: true, force: true });
    swept.push({ pilotDir, killed });
  }
  return swept;
}
