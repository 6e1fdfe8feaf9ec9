// A process named by its pid and the kernel's start time for it (field 22 of /proc/PID/stat,
// proc(5): clock ticks since boot), so a pid the kernel has since given to another process is never
// taken for it. What `wms up` records of what it started, a pilot's pid file and a local pilot's
// batch id all say this, and are all read back here.
import { readFileSync } from "node:fs";

export interface ProcessRef {
  readonly pid: number;
  /** Start time in clock ticks since boot; undefined where /proc is not readable. */
  readonly startTicks: string | undefined;
}

/** The fields of /proc/PID/stat from field 3 (state) on, or undefined when it cannot be read. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
export function startTicks(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

export function processRef(pid: number): ProcessRef {
  return { pid, startTicks: startTicks(pid) };
}

/**
 * True while the very process `ref` names runs: signal 0 reaches it (EPERM: it exists, as another
 * user), it is not a zombie (it has ended, only not been reaped), and it started when recorded.
 * Where /proc is not readable the signal test is all there is.
 */
export function isAlive(ref: ProcessRef): boolean {
  if (!Number.isInteger(ref.pid) || ref.pid <= 0) return false;
  try {
    process.kill(ref.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const fields = statFields(ref.pid);
  if (fields === undefined) return true;
  if (fields[0] === "Z") return false;
  return ref.startTicks === undefined || fields[19] === ref.startTicks;
}
