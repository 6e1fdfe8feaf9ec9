// CPU and memory of a payload that runs under another uid. `process.resourceUsage()` covers only
// the pilot itself, and /usr/bin/time would run as the user (who could kill it or rewrite its
// output). So, as root, we read /proc: the tree's VmHWM while it runs for max RSS, and for CPU the
// kernel's reaped-children counters of this process (exact once the payload is reaped, when it
// was the only child reaped meanwhile), falling back to the last tree sample otherwise.
import { execFileSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  readonly pgrp: number;
  readonly cpuTicks: { user: number; sys: number };
}

function parseStat(pid: number, text: string): Stat {
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // f[n - 3] is field n of proc(5): utime 14, stime 15, cutime 16, cstime 17.
  return { pid, ppid: Number(f[1]), pgrp: Number(f[2]), cpuTicks: { user: Number(f[11]) + Number(f[13]), sys: Number(f[12]) + Number(f[14]) } };
}

/** User and system CPU seconds of this process's reaped children so far. */
export function reapedChildrenCpu(): { user: number; sys: number } {
  const f = readFileSync("/proc/self/stat", "utf8");
  const s = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return { user: Number(s[13]) / clockTicks(), sys: Number(s[14]) / clockTicks() };
}

export interface UsageSample {
  readonly userCpuSec: number;
  readonly sysCpuSec: number;
  readonly maxRssKb: number;
}

/** The payload's process group plus its descendants, summed. */
export async function sampleGroup(rootPid: number): Promise<UsageSample> {
  const all: Stat[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      all.push(parseStat(Number(name), await readFile(`/proc/${name}/stat`, "utf8")));
    } catch {
      // exited meanwhile
    }
  }
  const inTree = new Set(all.filter((s) => s.pid === rootPid || s.pgrp === rootPid).map((s) => s.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of all) if (!inTree.has(s.pid) && inTree.has(s.ppid)) grew = inTree.add(s.pid) !== undefined;
  }
  let user = 0;
  let sys = 0;
  let rss = 0;
  for (const s of all) {
    if (!inTree.has(s.pid)) continue;
    user += s.cpuTicks.user;
    sys += s.cpuTicks.sys;
    try {
      const m = /^VmHWM:\s+(\d+) kB/m.exec(await readFile(`/proc/${s.pid}/status`, "utf8"));
      if (m) rss = Math.max(rss, Number(m[1]));
    } catch {
      // exited meanwhile
    }
  }
  return { userCpuSec: user / clockTicks(), sysCpuSec: sys / clockTicks(), maxRssKb: rss };
}

let running = 0;

/** Samples every `pollMs` until `stop()`; `stop` returns the totals. */
export function trackUsage(rootPid: number, pollMs: number): { stop(): Promise<UsageSample> } {
  const before = reapedChildrenCpu();
  const exclusive = running === 0;
  running++;
  let last: UsageSample = { userCpuSec: 0, sysCpuSec: 0, maxRssKb: 0 };
  let busy = false;
  const tick = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      const s = await sampleGroup(rootPid);
      last = { userCpuSec: Math.max(last.userCpuSec, s.userCpuSec), sysCpuSec: Math.max(last.sysCpuSec, s.sysCpuSec), maxRssKb: Math.max(last.maxRssKb, s.maxRssKb) };
    } finally {
      busy = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), pollMs);
  return {
    stop: async () => {
      clearInterval(timer);
      running--;
      const after = reapedChildrenCpu();
      const round = (n: number): number => Math.round(n * 100) / 100;
      if (exclusive && running === 0) {
        return { userCpuSec: round(Math.max(after.user - before.user, last.userCpuSec)), sysCpuSec: round(Math.max(after.sys - before.sys, last.sysCpuSec)), maxRssKb: last.maxRssKb };
      }
      return { userCpuSec: round(last.userCpuSec), sysCpuSec: round(last.sysCpuSec), maxRssKb: last.maxRssKb };
    },
  };
}
