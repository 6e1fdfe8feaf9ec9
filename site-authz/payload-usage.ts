// CPU and memory of a payload that runs under another uid. `process.resourceUsage()` covers only
// the pilot itself, and /usr/bin/time would run as the user (who could kill it or rewrite its
// output). So, as root, we read /proc: the tree's VmHWM while it runs for max RSS, and for CPU the
// kernel's reaped-children counters of this process (exact once the payload is reaped, when it
// was the only child reaped meanwhile), falling back to the last tree sample otherwise.
import { reapedChildrenCpuSec, sampleTree } from "./process-tree.ts";

export interface UsageSample {
  readonly userCpuSec: number;
  readonly sysCpuSec: number;
  readonly maxRssKb: number;
}

/** The payload's process group plus its descendants, summed; max RSS is the highest VmHWM. */
async function sampleGroup(rootPid: number): Promise<UsageSample> {
  const t = await sampleTree(rootPid);
  return { userCpuSec: t.userCpuSec, sysCpuSec: t.sysCpuSec, maxRssKb: t.peakKb };
}

let running = 0;

/** Samples every `pollMs` until `stop()`; `stop` returns the totals. */
export function trackUsage(rootPid: number, pollMs: number): { stop(): Promise<UsageSample> } {
  const before = reapedChildrenCpuSec();
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
      const after = reapedChildrenCpuSec();
      const round = (n: number): number => Math.round(n * 100) / 100;
      if (exclusive && running === 0) {
        return { userCpuSec: round(Math.max(after.user - before.user, last.userCpuSec)), sysCpuSec: round(Math.max(after.sys - before.sys, last.sysCpuSec)), maxRssKb: last.maxRssKb };
      }
      return { userCpuSec: round(last.userCpuSec), sysCpuSec: round(last.sysCpuSec), maxRssKb: last.maxRssKb };
    },
  };
}
