// The factory's local pilots run detached (stopping a factory must not kill the jobs its pilots
// run), so `wms up` finds them when everything stops by the pid file each pilot writes in its own
// folder, and stops each pilot's process group: SIGTERM first (the pilot kills its payload, reports
// it as PILOT_KILLED and deletes its credentials), SIGKILL after a grace.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { PILOT_PID_FILE } from "../agents/pilot/index.ts";
import { isAlive, type ProcessRef } from "./up-state.ts";
import { stopProcessGroups } from "../platform/process-groups.ts";

/** The pilots' folder under `wms up`: the pilot's default --work-dir, relative to the factory's folder. */
export const PILOTS_DIR = path.join(".wms", "pilots");

export function livePilots(pilotsDir: string): ProcessRef[] {
  let entries: string[];
  try {
    entries = readdirSync(pilotsDir);
  } catch {
    return [];
  }
  const out: ProcessRef[] = [];
  for (const e of entries) {
    try {
      const [pid, ticks] = readFileSync(path.join(pilotsDir, e, PILOT_PID_FILE), "utf8").trim().split(" ");
      const ref = { pid: Number(pid), startTicks: ticks || undefined };
      if (Number.isInteger(ref.pid) && ref.pid > 0 && isAlive(ref)) out.push(ref);
    } catch {
      /* not a pilot folder, or its pilot is gone */
    }
  }
  return out;
}

export async function stopLocalPilots(deploymentDir: string, graceMs = 10_000): Promise<number> {
  const pilots = livePilots(path.join(deploymentDir, PILOTS_DIR));
  await stopProcessGroups(pilots, graceMs);
  return pilots.length;
}
