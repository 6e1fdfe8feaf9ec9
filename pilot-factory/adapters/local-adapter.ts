// Pilots as detached local processes: the default, and what the demo runs. Each pilot gets its own
// session (`detached`), so stopping the factory (Ctrl-C in its terminal) does not kill the pilots,
// and a log file per pilot; `unref()` lets the factory exit while they run.
// Where the factory may make cgroups (root, or a delegated subtree), each pilot also runs in a
// cgroup of its own, as a batch system's job slot does: a pilot killed with SIGKILL (OOM killer, an
// operator, a crash) cannot end its payload, which would otherwise run on, unaccounted, while its
// job is given to another pilot. The adapter's query, which finds the pilot gone, ends everything
// left in that cgroup (`cgroup.kill`), setsid escapes included.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import path from "node:path";
import { cgroupTreePids, joinCgroupCommand, killCgroup, makeChildCgroup, ownChildCgroups, ownCgroupDir } from "../../platform/cgroups.ts";
import { isAlive, startTicks } from "../../platform/process-identity.ts";
import type { PilotLaunch } from "../pilot-command.ts";
import { pilotBaseEnv } from "./pilot-base-env.ts";
import { submitEachPilot } from "./submit-each-pilot.ts";
import type { BatchQueryContext, BatchState, SubmitAdapter, SubmitContext, SubmitOutcome } from "./submit-adapter.ts";

export interface LocalAdapterOptions {
  /** The factory's environment; only the allowlisted variables pass to pilots. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Working directory of the pilot processes (default: the factory's). */
  readonly cwd?: string;
  /** `false`: never put pilots in cgroups of their own (default: wherever the factory may make one). */
  readonly cgroups?: boolean;
  /** How long a pilot cgroup must have been found empty before a sweep removes it (default EMPTY_CGROUP_AGE_MS). */
  readonly emptyCgroupAgeMs?: number;
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

/**
 * A pilot cgroup found empty by sweeps this far apart is one whose pilot ended: one being joined is
 * empty only until its shell starts. Measured by the adapter, not by the folder's times: cgroupfs
 * (kernfs) stamps a folder when its inode is first looked up, not when it is made.
 */
const EMPTY_CGROUP_AGE_MS = 30_000;

/**
 * The sweep for empty pilot cgroups reads every pilot cgroup (a stat and a cgroup.procs each), so a
 * queue's query runs it only when the queue's number of live pilots changed since its last query
 * (a pilot ended or was submitted: the only moments a cgroup is left over) and otherwise once every
 * this many queries, for a cgroup left by a pilot that ended within EMPTY_CGROUP_AGE_MS of its start.
 */
export const SWEEP_EVERY_QUERIES = 10;

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
  const started = startTicks(pid);
  return started === undefined ? String(pid) : `${pid}@${started}`;
}

/** Whether the process a local batch id names still runs. A zombie has ended: its pilot is gone. */
export function localProcessState(batchId: string): BatchState {
  const [pidText, started] = batchId.split("@");
  return isAlive({ pid: Number(pidText), startTicks: started }) ? "running" : "gone";
}

export class LocalAdapter implements SubmitAdapter {
  readonly kind = "local" as const;
  /** The processes this adapter started and has not yet seen gone, oldest first: for tests and the demo to look at (or stop). */
  readonly started = new Map<string, LocalPilotProcess>();
  /** Processes ended because their pilot was gone (payloads that outlived a killed pilot). */
  orphansKilled = 0;
  /** Per queue: its number of live pilots at its last query, and its queries since the last sweep. */
  private readonly sweeps = new Map<string, { readonly pilots: number; readonly queries: number }>();
  /** Pilot cgroups found empty by a sweep, and when first. */
  private readonly emptySince = new Map<string, number>();

  constructor(private readonly opts: LocalAdapterOptions) {}

  unavailable(): undefined {
    return undefined;
  }

  async submit(pilots: readonly PilotLaunch[], ctx: SubmitContext): Promise<SubmitOutcome> {
    const logDir = path.join(ctx.queueDir, "logs");
    const base = pilotBaseEnv(this.opts.env);
    return submitEachPilot(pilots, logDir, async (pilot, wrote) => {
      const cmd = ctx.pilotCommand(pilot, ctx.runtime);
      const logFile = path.join(logDir, `${pilot.pilotId}.log`);
      const cgroup = this.opts.cgroups === false ? undefined : await makeChildCgroup(pilotCgroupName(pilot.pilotId));
      const run = cgroup === undefined ? cmd : joinCgroupCommand(cgroup, cmd.command, cmd.args);
      try {
        const pid = await startDetached(run.command, run.args, { ...base, ...cmd.env }, logFile, this.opts.cwd);
        this.started.set(pilot.pilotId, { pilotId: pilot.pilotId, pid, logFile, ...(cgroup !== undefined && { cgroup }) });
        wrote(logFile);
        return localBatchId(pid);
      } catch (e) {
        if (cgroup !== undefined) await killCgroup(cgroup);
        throw e;
      }
    });
  }

  /**
   * The process table's view, from the batch ids kept in the census (not from memory): a factory
   * restarted after its pilots exited still sees them gone. A pilot without a batch id is unknown.
   */
  async query(pilots: ReadonlyArray<{ readonly pilotId: string; readonly batchId?: string }>, ctx?: BatchQueryContext): Promise<ReadonlyMap<string, BatchState>> {
    const out = new Map<string, BatchState>();
    for (const p of pilots) if (p.batchId !== undefined) out.set(p.pilotId, localProcessState(p.batchId));
    const parent = await ownCgroupDir();
    if (parent !== undefined) {
      // A pilot gone while its cgroup still holds processes: its payload outlived it. End them.
      const gone = [...out].filter(([, s]) => s === "gone").map(([id]) => path.join(parent, pilotCgroupName(id)));
      const left = await Promise.all(gone.map(async (dir) => ({ dir, n: await killCgroup(dir) })));
      this.orphansKilled += left.reduce((n, l) => n + l.n, 0);
      if (this.sweepDue(ctx?.queue.name ?? "", pilots.length)) await this.sweepEmptyCgroups();
    }
    return out;
  }

  private sweepDue(queue: string, pilots: number): boolean {
    const last = this.sweeps.get(queue);
    const due = last === undefined || last.pilots !== pilots || last.queries + 1 >= SWEEP_EVERY_QUERIES;
    this.sweeps.set(queue, { pilots, queries: due ? 0 : last.queries + 1 });
    return due;
  }

  /** Removes the cgroups of pilots that ended on their own, left empty (also those of a previous factory process). */
  private async sweepEmptyCgroups(): Promise<void> {
    const minAge = this.opts.emptyCgroupAgeMs ?? EMPTY_CGROUP_AGE_MS;
    const now = Date.now();
    const seen = new Set<string>();
    for (const dir of await ownChildCgroups(PILOT_CGROUP_PREFIX)) {
      if ((await cgroupTreePids(dir)).length > 0) continue;
      const since = this.emptySince.get(dir);
      if (since !== undefined && now - since >= minAge) {
        await killCgroup(dir);
        continue;
      }
      seen.add(dir);
      if (since === undefined) this.emptySince.set(dir, now);
    }
    for (const dir of this.emptySince.keys()) if (!seen.has(dir)) this.emptySince.delete(dir);
  }
}
