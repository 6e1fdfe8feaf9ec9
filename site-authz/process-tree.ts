// Reads a payload's process tree from /proc: resident memory (for the memory limit and the
// accounting record) and CPU time. Linux only, like the batch slots pilots run in. Here rather than
// in the pilot because both the pilot's supervisor and `runPayload` measure payloads, and the pilot
// may import site-authz but not the reverse.
import { execFileSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly pgrp: number;
  readonly utime: number;
  readonly stime: number;
  readonly cutime: number;
  readonly cstime: number;
}

let clockTicks: number | undefined;
/** USER_HZ; 100 on every Linux we know, asked once in case this one differs. */
export function clockTicksPerSec(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Fields after the parenthesised command name, which itself may hold spaces and parentheses. */
function parseStat(pid: number, text: string): ProcStat | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const f = text.slice(close + 2).split(" ");
  // f[0] is field 3 (state); field n is f[n - 3].
  const [utime, stime, cutime, cstime] = [Number(f[11]), Number(f[12]), Number(f[13]), Number(f[14])];
  return { pid, ppid: Number(f[1]), pgrp: Number(f[2]), utime, stime, cutime, cstime };
}

async function readStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseStat(pid, await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined; // gone between readdir and read
  }
}

async function statusKb(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(await readFile(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) one process has used so far; undefined when it is gone. */
export async function processCpuSec(pid: number): Promise<number | undefined> {
  const s = await readStat(pid);
  return s && (s.utime + s.stime) / clockTicksPerSec();
}

/** Resident memory of one process in kB (0 when it is gone). */
export function processRssKb(pid: number): Promise<number> {
  return statusKb(pid, "VmRSS");
}

/** The root and every descendant (by parent links) plus anything left in the root's process group. */
export async function processTree(rootPid: number): Promise<ProcStat[]> {
  const all: ProcStat[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = await readStat(Number(name));
    if (s) all.push(s);
  }
  const children = new Map<number, ProcStat[]>();
  for (const s of all) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const inTree = new Map<number, ProcStat>();
  const stack = all.filter((s) => s.pid === rootPid || s.pgrp === rootPid);
  while (stack.length) {
    const s = stack.pop() as ProcStat;
    if (inTree.has(s.pid)) continue;
    inTree.set(s.pid, s);
    stack.push(...(children.get(s.pid) ?? []));
  }
  return [...inTree.values()];
}

/** How a payload ended and what it used: what the accounting record needs, however it was run. */
export interface PayloadMeasures {
  /** The exit code, or -1 when a signal ended it or it could not start. */
  readonly exitCode: number;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  readonly startError?: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly wallSec: number;
  readonly userCpuSec: number;
  readonly sysCpuSec: number;
  readonly maxRssKb: number;
}

export interface TreeSample {
  readonly pids: number[];
  /** Sum of resident memory now. */
  readonly rssKb: number;
  /** Highest single-process peak (VmHWM) seen by the kernel, catching spikes between polls. */
  readonly peakKb: number;
  readonly userCpuSec: number;
  readonly sysCpuSec: number;
}

export async function sampleTree(rootPid: number): Promise<TreeSample> {
  // The root first, before the slower walk of /proc: a payload of a few milliseconds is still seen.
  const rootPeakKb = await statusKb(rootPid, "VmHWM");
  const tree = await processTree(rootPid);
  let rssKb = 0;
  let peakKb = rootPeakKb;
  let user = 0;
  let sys = 0;
  for (const p of tree) {
    rssKb += await statusKb(p.pid, "VmRSS");
    peakKb = Math.max(peakKb, await statusKb(p.pid, "VmHWM"));
    user += p.utime + p.cutime;
    sys += p.stime + p.cstime;
  }
  const hz = clockTicksPerSec();
  return { pids: tree.map((p) => p.pid), rssKb, peakKb, userCpuSec: user / hz, sysCpuSec: sys / hz };
}

/**
 * CPU of the children this process has waited for (cutime, cstime of /proc/self/stat). Node reaps
 * a payload with waitpid, so the kernel adds its whole tree's CPU here when it exits: exact, where
 * polling would lose the last interval.
 */
export function reapedChildrenCpuSec(): { user: number; sys: number } {
  const s = parseStat(process.pid, readFileSync("/proc/self/stat", "utf8"));
  const hz = clockTicksPerSec();
  return s ? { user: s.cutime / hz, sys: s.cstime / hz } : { user: 0, sys: 0 };
}
