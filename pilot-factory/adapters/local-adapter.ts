// Pilots as detached local processes: the default, and what the demo runs. Each pilot gets its own
// session (`detached`), so stopping the factory (Ctrl-C in its terminal) does not kill the pilots,
// and a log file per pilot; `unref()` lets the factory exit while they run.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import type { PilotLaunch } from "../pilot-command.ts";
import { pilotBaseEnv } from "./pilot-base-env.ts";
import { removePilotTokenFile, writePilotTokenFile } from "./pilot-token-file.ts";
import type { BatchState, SubmitAdapter, SubmitContext, SubmitOutcome } from "./submit-adapter.ts";

export interface LocalAdapterOptions {
  /** The factory's environment; only the allowlisted variables pass to pilots. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Working directory of the pilot processes (default: the factory's). */
  readonly cwd?: string;
}

export interface LocalPilotProcess {
  readonly pilotId: string;
  readonly pid: number;
  readonly logFile: string;
}

/** Starts one pilot; resolves once the OS has started it (or rejects if it could not). */
function startDetached(command: string, args: readonly string[], env: Record<string, string>, logFile: string, cwd: string | undefined): Promise<number> {
  const fd = openSync(logFile, "a", 0o600);
  try {
    const child = spawn(command, args, { detached: true, stdio: ["ignore", fd, fd], env, cwd });
    return new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => {
        child.unref();
        resolve(child.pid ?? -1);
      });
    });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
}

/**
 * A local pilot's batch id: its pid and the kernel's start time of that process (field 22 of
 * /proc/PID/stat, proc(5)), so a pid the kernel has since given to another process is not taken
 * for the pilot. Where /proc is not readable the pid alone.
 */
export function localBatchId(pid: number): string {
  const started = processStartTime(pid);
  return started === undefined ? String(pid) : `${pid}@${started}`;
}

function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** True while a process with this pid exists (signal 0 checks without sending anything). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the process a local batch id names still runs. A zombie has ended: its pilot is gone. */
export function localProcessState(batchId: string): BatchState {
  const [pidText, started] = batchId.split("@");
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return "gone";
  if (started === undefined) return processExists(pid) ? "running" : "gone";
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] === started && fields[0] !== "Z" ? "running" : "gone";
  } catch {
    return "gone";
  }
}

export class LocalAdapter implements SubmitAdapter {
  readonly kind = "local" as const;
  /** The processes this adapter started and has not yet seen gone, oldest first: for tests and the demo to look at (or stop). */
  readonly started = new Map<string, LocalPilotProcess>();

  constructor(private readonly opts: LocalAdapterOptions) {}

  unavailable(): undefined {
    return undefined;
  }

  async submit(pilots: readonly PilotLaunch[], ctx: SubmitContext): Promise<SubmitOutcome> {
    const logDir = path.join(ctx.queueDir, "logs");
    mkdirSync(logDir, { recursive: true, mode: 0o700 });
    const base = pilotBaseEnv(this.opts.env);
    const submitted: string[] = [];
    const failed: Array<{ pilotId: string; message: string }> = [];
    const files: string[] = [];
    const batchIds: Record<string, string> = {};
    for (const pilot of pilots) {
      const tokenFile = writePilotTokenFile(logDir, pilot.pilotId, pilot.token);
      const cmd = ctx.pilotCommand({ ...pilot, tokenFile }, ctx.runtime);
      const logFile = path.join(logDir, `${pilot.pilotId}.log`);
      try {
        const pid = await startDetached(cmd.command, cmd.args, { ...base, ...cmd.env }, logFile, this.opts.cwd);
        this.started.set(pilot.pilotId, { pilotId: pilot.pilotId, pid, logFile });
        batchIds[pilot.pilotId] = localBatchId(pid);
        submitted.push(pilot.pilotId);
        files.push(logFile);
      } catch (e) {
        removePilotTokenFile(tokenFile);
        failed.push({ pilotId: pilot.pilotId, message: (e as Error).message });
      }
    }
    return { submitted, failed, files, batchIds };
  }

  /**
   * The process table's view, from the batch ids kept in the census (not from memory): a factory
   * restarted after its pilots exited still sees them gone. A pilot without a batch id is unknown.
   */
  async query(pilots: ReadonlyArray<{ readonly pilotId: string; readonly batchId?: string }>): Promise<ReadonlyMap<string, BatchState>> {
    const out = new Map<string, BatchState>();
    for (const p of pilots) if (p.batchId !== undefined) out.set(p.pilotId, localProcessState(p.batchId));
    return out;
  }
}
