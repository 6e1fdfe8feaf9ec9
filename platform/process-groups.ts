// Stopping detached processes the way every part that starts them does: each leads its own process
// group (stopping a supervisor or a factory must not take its children down with it), so the
// signal goes to the group, SIGTERM first so each can clean up (a pilot kills its payload and
// deletes its credentials), SIGKILL after a grace. `wms up`'s supervisor, `wms down` and the demo.
import { isAlive, type ProcessRef } from "./process-identity.ts";

/** SIGTERM/SIGKILL to a process group led by `pid`, else to `pid` alone; false when neither is there. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** SIGTERM to each live process's group, then SIGKILL to those still running after `graceMs`. */
export async function stopProcessGroups(refs: readonly ProcessRef[], graceMs: number): Promise<void> {
  const live = refs.filter(isAlive);
  for (const r of live) signalGroup(r.pid, "SIGTERM");
  const until = Date.now() + graceMs;
  while (Date.now() < until && live.some(isAlive)) await new Promise((r) => setTimeout(r, 100));
  for (const r of live.filter(isAlive)) signalGroup(r.pid, "SIGKILL");
}
