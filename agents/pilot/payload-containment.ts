// Everything a payload starts goes when its job ends, including processes that left its process
// group and session (`setsid`, double forks reparented to init). Where the pilot may create a
// cgroup v2 (root, or a delegated subtree: see the kernel's cgroup-v2 documentation, "Delegation"),
// the payload starts inside a cgroup of its own and `cgroup.kill` ends every member at once; a
// process cannot leave a cgroup it has no write access to the parent of. Elsewhere every process
// of the payload carries a marker in its environment, and the pilot kills each process whose
// /proc/<pid>/environ holds it (a payload that re-execs with a scrubbed environment escapes that
// fallback; agents/pilot/README.md says so).
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";

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

/** Where a cgroup v2 hierarchy is mounted (a unified mount, or the `unified` one of a hybrid layout). */
async function cgroup2Mount(): Promise<string | undefined> {
  try {
    const mounts = await readFile("/proc/self/mounts", "utf8");
    for (const line of mounts.split("\n")) {
      const [, where, type] = line.split(" ");
      if (type === "cgroup2" && where !== undefined) return where;
    }
  } catch {
    // not Linux
  }
  return undefined;
}

/** Our own cgroup v2 path (`0::/path` in /proc/self/cgroup). */
async function ownCgroup(): Promise<string> {
  try {
    const line = (await readFile("/proc/self/cgroup", "utf8")).split("\n").find((l) => l.startsWith("0::"));
    return line?.slice(3) ?? "/";
  } catch {
    return "/";
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function pidsIn(procsFile: string): Promise<number[]> {
  try {
    return (await readFile(procsFile, "utf8")).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function cgroupContainment(dir: string): Promise<PayloadContainment> {
  const procs = path.join(dir, "cgroup.procs");
  let done = false;
  return {
    kind: "cgroup",
    // The shell joins the cgroup before it execs the payload, so no process of the payload ever
    // runs outside it (moving the pid in after spawn would race the payload's first fork).
    wrap: (executable, args) => ({ command: "/bin/sh", args: ["-c", 'echo $$ > "$0" || exit 126; exec "$@"', procs, executable, ...args] }),
    env: {},
    async killAll() {
      if (done) return 0;
      const found = (await pidsIn(procs)).length;
      try {
        await writeFile(path.join(dir, "cgroup.kill"), "1");
      } catch {
        // Kernels before 5.14 have no cgroup.kill: signal each member.
        for (const pid of await pidsIn(procs)) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone
          }
        }
      }
      // A cgroup can be removed only once its last member has been reaped.
      for (let i = 0; i < 100; i++) {
        if ((await pidsIn(procs)).length === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await rmdir(dir).then(
        () => (done = true),
        () => undefined,
      );
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
    const mount = await cgroup2Mount();
    if (mount !== undefined) {
      const dir = path.join(mount, await ownCgroup(), `wms-payload-${jobId.replace(/[^A-Za-z0-9_.-]/g, "_")}-${randomBytes(4).toString("hex")}`);
      try {
        await mkdir(dir);
        return await cgroupContainment(dir);
      } catch {
        // not ours to create (no root, no delegation): fall back to the marker
      }
    }
  }
  return markerContainment();
}
