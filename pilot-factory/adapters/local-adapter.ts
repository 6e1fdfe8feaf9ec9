// Pilots as detached local processes: the default, and what the demo runs. Each pilot gets its own
// session (`detached`), so stopping the factory (Ctrl-C in its terminal) does not kill the pilots,
// and a log file per pilot; `unref()` lets the factory exit while they run.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import type { PilotLaunch } from "../pilot-command.ts";
import { pilotBaseEnv } from "./pilot-base-env.ts";
import type { SubmitAdapter, SubmitContext, SubmitOutcome } from "./submit-adapter.ts";

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

/** True while a process with this pid exists (signal 0 checks without sending anything). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class LocalAdapter implements SubmitAdapter {
  readonly kind = "local" as const;
  /** The processes this adapter started and has not yet seen gone, oldest first: for tests and the demo to look at (or stop). */
  readonly started = new Map<string, LocalPilotProcess>();
  private readonly goneSince = new Map<string, number>();

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
    for (const pilot of pilots) {
      const cmd = ctx.pilotCommand(pilot, ctx.runtime);
      const logFile = path.join(logDir, `${pilot.pilotId}.log`);
      try {
        const pid = await startDetached(cmd.command, cmd.args, { ...base, ...cmd.env }, logFile, this.opts.cwd);
        this.started.set(pilot.pilotId, { pilotId: pilot.pilotId, pid, logFile });
        submitted.push(pilot.pilotId);
        files.push(logFile);
      } catch (e) {
        failed.push({ pilotId: pilot.pilotId, message: (e as Error).message });
      }
    }
    return { submitted, failed, files };
  }

  /**
   * Pilots whose process has been gone for at least `graceMs`. A pilot's last census can be lost
   * (NATS reconnecting, a kill -9); without this it would count as idle until reaped as lost.
   * The grace lets an exit message that is still on its way land first.
   */
  vanished(nowMs: number, graceMs: number): string[] {
    const out: string[] = [];
    for (const [id, p] of this.started) {
      if (processExists(p.pid)) continue;
      const since = this.goneSince.get(id) ?? nowMs;
      this.goneSince.set(id, since);
      if (nowMs - since >= graceMs) {
        out.push(id);
        this.started.delete(id);
        this.goneSince.delete(id);
      }
    }
    return out;
  }
}
