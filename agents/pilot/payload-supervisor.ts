// Watches a running payload: kills it over walltime or memory, on cancel or when the pilot itself
// is told to stop, and measures what the accounting record needs (wall, CPU, max RSS, exit code).
import type { ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";
import { ERR, type ErrorCode } from "../../schemas/index.ts";
import { reapedChildrenCpuSec, sampleTree, type PayloadMeasures } from "../../site-authz/index.ts";

export interface PayloadOutcome extends PayloadMeasures {
  /** Set when the supervisor (or a caller via `kill`) ended it; the code says why. */
  readonly killedFor?: { readonly code: ErrorCode; readonly reason: string };
}

export interface SupervisorOptions {
  readonly walltimeSec: number;
  readonly memoryMb: number;
  /** How often the process tree's RSS is read. */
  readonly pollMs: number;
  /** Time between SIGTERM and SIGKILL. */
  readonly graceMs: number;
  /** Aborting (the batch system sent the pilot SIGTERM) kills the payload with PILOT_PREEMPTED. */
  readonly signal?: AbortSignal;
}

export interface SupervisedPayload {
  readonly pid: number | undefined;
  /** Ends the payload for `code`; the first reason given is the one reported. */
  kill(code: ErrorCode, reason: string): void;
  readonly done: Promise<PayloadOutcome>;
}

// The reaped-children CPU counter is per process; it is exact only while one payload runs in it.
const running = new Set<{ exclusive: boolean }>();

function signalTree(pids: Iterable<number>, pgid: number | undefined, sig: NodeJS.Signals): void {
  const targets = pgid !== undefined ? [-pgid, ...pids] : [...pids];
  for (const t of targets) {
    try {
      process.kill(t, sig);
    } catch {
      // already gone
    }
  }
}

/** `child` must have been spawned `detached` so it leads its own process group. */
export function supervise(child: ChildProcess, o: SupervisorOptions): SupervisedPayload {
  const startedAt = Date.now();
  // The wall time is measured on the monotonic clock: a step of the node's clock while the payload
  // runs (NTP, a VM restored) would make it negative or hours long, and the accounting record that
  // carries it would be refused (its schema, the job's walltime) and its usage lost.
  const startedMono = performance.now();
  const slot = { exclusive: running.size === 0 };
  for (const other of running) other.exclusive = false;
  running.add(slot);
  const cpuBefore = reapedChildrenCpuSec();
  const pid = child.pid;
  const memoryKb = o.memoryMb * 1024;
  let killedFor: PayloadOutcome["killedFor"];
  let maxRssKb = 0;
  let lastCpu = { user: 0, sys: 0 };
  let knownPids = new Set<number>(pid !== undefined ? [pid] : []);
  let killTimer: NodeJS.Timeout | undefined;
  let exited = false;

  const kill = (code: ErrorCode, reason: string): void => {
    if (exited || killedFor) return;
    killedFor = { code, reason };
    signalTree(knownPids, pid, "SIGTERM");
    killTimer = setTimeout(() => signalTree(knownPids, pid, "SIGKILL"), o.graceMs);
  };

  let inFlight: Promise<void> | undefined;
  const sample = (): Promise<void> => {
    if (pid === undefined || exited || inFlight) return inFlight ?? Promise.resolve();
    inFlight = (async () => {
      try {
        const s = await sampleTree(pid);
        // Kept even if the payload exited meanwhile: the figures were read while it lived.
        maxRssKb = Math.max(maxRssKb, s.rssKb, s.peakKb);
        lastCpu = { user: Math.max(lastCpu.user, s.userCpuSec), sys: Math.max(lastCpu.sys, s.sysCpuSec) };
        if (exited) return;
        knownPids = new Set([...knownPids, ...s.pids]);
        if (s.rssKb > memoryKb) kill(ERR.PAYLOAD_MEMORY_EXCEEDED, `resident memory ${Math.round(s.rssKb / 1024)} MB over the job's ${o.memoryMb} MB`);
      } catch {
        // /proc vanished under us: the next poll tries again.
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };

  const poll = setInterval(() => void sample(), o.pollMs);
  const wallTimer = setTimeout(() => kill(ERR.PAYLOAD_WALLTIME_EXCEEDED, `still running after the job's walltime of ${o.walltimeSec} s`), o.walltimeSec * 1000);
  const onAbort = (): void => kill(ERR.PILOT_PREEMPTED, "the batch system preempted the pilot (SIGTERM)");
  o.signal?.addEventListener("abort", onAbort);
  if (o.signal?.aborted) onAbort();
  void sample();

  const done = new Promise<PayloadOutcome>((resolve) => {
    const finish = async (exitCode: number, signal: NodeJS.Signals | null, startError?: string): Promise<void> => {
      if (exited) return;
      exited = true;
      const wallMs = performance.now() - startedMono;
      const endedAt = startedAt + Math.round(wallMs);
      // A sample that started while the payload lived still counts towards its max RSS.
      await inFlight;
      clearInterval(poll);
      clearTimeout(wallTimer);
      if (killTimer) clearTimeout(killTimer);
      o.signal?.removeEventListener("abort", onAbort);
      // Anything the payload left behind in its group goes with it.
      signalTree(knownPids, pid, "SIGKILL");
      running.delete(slot);
      const after = reapedChildrenCpuSec();
      const cpu = slot.exclusive ? { user: Math.max(0, after.user - cpuBefore.user), sys: Math.max(0, after.sys - cpuBefore.sys) } : lastCpu;
      resolve({
        exitCode,
        signal,
        killedFor,
        startError,
        startedAt,
        endedAt,
        wallSec: wallMs / 1000,
        userCpuSec: Math.round(cpu.user * 100) / 100,
        sysCpuSec: Math.round(cpu.sys * 100) / 100,
        maxRssKb,
      });
    };
    child.once("exit", (code, signal) => void finish(code ?? -1, signal));
    child.once("error", (e) => void finish(-1, null, e.message));
  });
  return { pid, kill, done };
}
