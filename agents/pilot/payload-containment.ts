// Everything a payload starts goes when its job ends, including processes that left its process
// group and session (`setsid`, double forks reparented to init). Where the pilot may create a
// cgroup v2 (root, or a delegated subtree: see the kernel's cgroup-v2 documentation, "Delegation"),
// the payload starts inside a cgroup of its own and `cgroup.kill` ends every member at once; a
// process cannot leave a cgroup it has no write access to the parent of. Elsewhere every process
// of the payload carries a marker in its environment, and the pilot kills each process whose
// /proc/<pid>/environ holds it (a payload that re-execs with a scrubbed environment escapes that
// fallback; agents/pilot/README.md says so).
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { joinCgroupCommand, killCgroup, makeChildCgroup } from "../../platform/cgroups.ts";

/** The environment variable that marks a payload's processes when no cgroup is available. */
export const PAYLOAD_MARK_VARIABLE = "WMS_PAYLOAD_SESSION";

export interface PayloadContainment {
  /** "cgroup" or "marker": how the payload's processes are found at the end. */
  readonly kind: "cgroup" | "marker";
  /** The command and arguments that start `executable` inside the containment. */
  wrap(executable: string, args: readonly string[]): { command: string; args: string[] };
  /** Added to the payload's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** SIGKILLs every process still in the containment; returns how many were found. Idempotent. */
  killAll(): Promise<number>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function cgroupContainment(dir: string): PayloadContainment {
  let done = false;
  return {
    kind: "cgroup",
    wrap: (executable, args) => joinCgroupCommand(dir, executable, args),
    env: {},
    async killAll() {
      if (done) return 0;
      const found = await killCgroup(dir);
      done = true;
      return found;
    },
  };
}

function markerContainment(): PayloadContainment {
  const mark = randomBytes(12).toString("hex");
  const needle = Buffer.from(`${PAYLOAD_MARK_VARIABLE}=${mark}\0`);
  return {
    kind: "marker",
    wrap: (executable, args) => ({ command: executable, args: [...args] }),
    env: { [PAYLOAD_MARK_VARIABLE]: mark },
    async killAll() {
      let found = 0;
      // Twice: a process forked while the first pass ran is caught by the second.
      for (let pass = 0; pass < 2; pass++) {
        let entries: string[] = [];
        try {
          entries = await readdir("/proc");
        } catch {
          return found;
        }
        for (const e of entries) {
          if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
          let environ: Buffer;
          try {
            environ = await readFile(`/proc/${e}/environ`);
          } catch {
            continue;
          }
          if (environ.includes(needle) && isAlive(Number(e))) {
            found += 1;
            try {
              process.kill(Number(e), "SIGKILL");
            } catch {
              // gone
            }
          }
        }
      }
      return found;
    },
  };
}

/**
 * A containment for one payload: a fresh cgroup v2 under the pilot's own when the pilot may make
 * one, else the environment marker. `prefer: "marker"` skips the cgroup (tests of the fallback).
 */
export async function containPayload(jobId: string, o: { prefer?: "cgroup" | "marker" } = {}): Promise<PayloadContainment> {
  if (o.prefer !== "marker") {
    const dir = await makeChildCgroup(`wms-payload-${jobId.replace(/[^A-Za-z0-9_.-]/g, "_")}-${randomBytes(4).toString("hex")}`);
    if (dir !== undefined) return cgroupContainment(dir);
    // not ours to create (no root, no delegation): fall back to the marker
  }
  return markerContainment();
}
