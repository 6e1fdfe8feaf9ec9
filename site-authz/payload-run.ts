// The whole identity switch in one call: start under the site's policy, SIGKILL the payload's
// group at its walltime, measure it, and clean up however it ended. The pilot may use this, or
// `startSwitched` with its own supervisor.
import { startSwitched, type CleanupReport, type StartedPayload, type SwitchRequest } from "./identity-switch.ts";
import type { PayloadMeasures } from "./process-tree.ts";
import { trackUsage } from "./payload-usage.ts";

export interface RunPayloadOptions extends Omit<SwitchRequest, "auditSwitch"> {
  /** Called once the payload has started (e.g. to record its pid). */
  readonly onSpawn?: (p: StartedPayload) => void;
  /** How often /proc is read for CPU and memory (default 200 ms). */
  readonly pollMs?: number;
  /** Aborting kills the payload (SIGKILL to its group). */
  readonly signal?: AbortSignal;
}

export interface PayloadRun extends PayloadMeasures {
  readonly account?: string;
  readonly uid?: number;
  /** True when it was killed for running past `job.walltimeSec`. */
  readonly walltimeExceeded: boolean;
  readonly cleanup: CleanupReport;
}

export async function runPayload(o: RunPayloadOptions): Promise<PayloadRun> {
  const p = await startSwitched(o);
  const pid = p.child.pid;
  let walltimeExceeded = false;
  const killGroup = (): void => {
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  const usage = pid !== undefined ? trackUsage(pid, o.pollMs ?? 200) : undefined;
  const wallTimer =
    o.job.walltimeSec !== undefined
      ? setTimeout(() => {
          walltimeExceeded = true;
          killGroup();
        }, o.job.walltimeSec * 1000)
      : undefined;
  o.signal?.addEventListener("abort", killGroup);
  let cleanup: CleanupReport | undefined;
  try {
    o.onSpawn?.(p);
    const ended = await new Promise<{ code: number; signal: NodeJS.Signals | null; startError?: string }>((resolve) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) resolve({ code: p.child.exitCode ?? -1, signal: p.child.signalCode });
      p.child.once("exit", (code, signal) => resolve({ code: code ?? -1, signal }));
      p.child.once("error", (e) => resolve({ code: -1, signal: null, startError: e.message }));
    });
    const endedAt = Date.now();
    clearTimeout(wallTimer);
    const u = usage ? await usage.stop() : { userCpuSec: 0, sysCpuSec: 0, maxRssKb: 0 };
    cleanup = await p.cleanup();
    return {
      exitCode: ended.code,
      signal: ended.signal,
      account: p.localAccount,
      uid: p.uid,
      walltimeExceeded,
      startError: ended.startError,
      startedAt: p.startedAt,
      endedAt,
      wallSec: (endedAt - p.startedAt) / 1000,
      ...u,
      cleanup,
    };
  } finally {
    clearTimeout(wallTimer);
    o.signal?.removeEventListener("abort", killGroup);
    // However we got here (a throw included), the credentials and permissions are dealt with.
    if (!cleanup) await p.cleanup().catch(() => undefined);
  }
}
