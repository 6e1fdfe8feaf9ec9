// Pilots as detached local processes: the default, and what the demo runs. Each pilot gets its own
// session (`detached`), so stopping the factory (Ctrl-C in its terminal) does not kill the pilots,
// and a log file per pilot; `unref()` lets the factory exit while they run.
// Where the factory may make cgroups (root, or a delegated subtree), each pilot also runs in a
// cgroup of its own, as a batch system's job slot does: a pilot killed with SIGKILL (OOM killer, an
// operator, a crash) cannot end its payload, which would otherwise run on, unaccounted, while its
// job is given to another pilot. The adapter's query, which finds the pilot gone, ends everything
// left in that cgroup (`cgroup.kill`), setsid escapes included.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { cgroupBornAt, cgroupTreePids, joinCgroupCommand, killCgroup, makeChildCgroup, ownChildCgroups, ownCgroupDir } from "../../platform/cgroups.ts";
import type { PilotLaunch } from "../pilot-command.ts";
import { pilotBaseEnv } from "./pilot-base-env.ts";
import { removePilotTokenFile, writePilotTokenFile } from "./pilot-token-file.ts";
import type { BatchState, SubmitAdapter, SubmitContext, SubmitOutcome } from "./submit-adapter.ts";

export interface LocalAdapterOptions {
  /** The factory's environment; only the allowlisted variables pass to pilots. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Working directory of the pilot processes (default: the factory's). */
  readonly cwd?: string;
  /** `false`: never put pilots in cgroups of their own (default: wherever the factory may make one). */
  readonly cgroups?: boolean;
}

export interface LocalPilotProcess {
  readonly pilotId: string;
  readonly pid: number;
  readonly logFile: string;
  /** The pilot's cgroup, where the factory could make one. */
  readonly cgroup?: string;
}

const PILOT_CGROUP_PREFIX = "wms-pilot-";

/** The name of a pilot's cgroup (under the factory's own): derived from its id, so a restarted factory finds it. */
export function pilotCgroupName(pilotId: string): string {
  return `${PILOT_CGROUP_PREFIX}${pilotId.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
}

/** An empty pilot cgroup older than this is one whose pilot ended (one being joined is empty for a few ms). */
const EMPTY_CGROUP_AGE_MS = 30_000;

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
  /** Processes ended because their pilot was gone (payloads that outlived a killed pilot). */
  orphansKilled = 0;

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
      const cgroup = this.opts.cgroups === false ? undefined : await makeChildCgroup(pilotCgroupName(pilot.pilotId));
      const run = cgroup === undefined ? cmd : joinCgroupCommand(cgroup, cmd.command, cmd.args);
      try {
        const pid = await startDetached(run.command, run.args, { ...base, ...cmd.env }, logFile, this.opts.cwd);
        this.started.set(pilot.pilotId, { pilotId: pilot.pilotId, pid, logFile, ...(cgroup !== undefined && { cgroup }) });
        batchIds[pilot.pilotId] = localBatchId(pid);
        submitted.push(pilot.pilotId);
        files.push(logFile);
      } catch (e) {
        if (cgroup !== undefined) await killCgroup(cgroup);
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
    const parent = await ownCgroupDir();
    if (parent !== undefined) {
      // A pilot gone while its cgroup still holds processes: its payload outlived it. End them.
      const gone = [...out].filter(([, s]) => s === "gone").map(([id]) => path.join(parent, pilotCgroupName(id)));
      const left = await Promise.all(gone.map(async (dir) => ({ dir, n: await killCgroup(dir) })));
      this.orphansKilled += left.reduce((n, l) => n + l.n, 0);
      // Cgroups of pilots that ended on their own, left empty.
      for (const dir of await ownChildCgroups(PILOT_CGROUP_PREFIX)) {
        const born = await cgroupBornAt(dir);
        if (born !== undefined && Date.now() - born > EMPTY_CGROUP_AGE_MS && (await cgroupTreePids(dir)).length === 0) await killCgroup(dir);
      }
    }
    return out;
  }
}
