// cgroup v2 for process containment: what a batch system does for a job slot. A process joins a
// cgroup before it execs (so nothing it forks ever runs outside), and `cgroup.kill` ends every
// member and every member of every descendant at once: `setsid` and double forks (reparented to
// init) included, which process groups and sessions cannot catch. See the kernel's cgroup-v2
// documentation ("Delegation" for where a non-root process may create one, "cgroup.kill").
import { mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";

/** Where a cgroup v2 hierarchy is mounted (a unified mount, or the `unified` one of a hybrid layout). */
export async function cgroup2Mount(): Promise<string | undefined> {
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

/** This process's own cgroup as a folder, or undefined without a cgroup v2 hierarchy. */
export async function ownCgroupDir(): Promise<string | undefined> {
  const mount = await cgroup2Mount();
  if (mount === undefined) return undefined;
  let own = "/";
  try {
    own = (await readFile("/proc/self/cgroup", "utf8")).split("\n").find((l) => l.startsWith("0::"))?.slice(3) ?? "/";
  } catch {
    // keep the root
  }
  return path.join(mount, own);
}

/** A new cgroup `name` under this process's own, or undefined where it may not make one (no root, no delegation). */
export async function makeChildCgroup(name: string): Promise<string | undefined> {
  const parent = await ownCgroupDir();
  if (parent === undefined) return undefined;
  const dir = path.join(parent, name);
  try {
    await mkdir(dir);
    return dir;
  } catch {
    return undefined;
  }
}

/**
 * The command that runs `executable` inside cgroup `dir`: a shell writes its own pid into the
 * cgroup and then execs, so no process of it ever runs outside (moving a pid in after spawn would
 * race its first fork). Exit 126 if the cgroup cannot be joined.
 */
export function joinCgroupCommand(dir: string, executable: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: "/bin/sh", args: ["-c", 'echo $$ > "$0" || exit 126; exec "$@"', path.join(dir, "cgroup.procs"), executable, ...args] };
}

/** The pids directly in cgroup `dir` (not its descendants'). */
export async function cgroupPids(dir: string): Promise<number[]> {
  try {
    return (await readFile(path.join(dir, "cgroup.procs"), "utf8")).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The pids in cgroup `dir` and all its descendants. */
export async function cgroupTreePids(dir: string): Promise<number[]> {
  const own = await cgroupPids(dir);
  const children = await childCgroups(dir);
  const below = await Promise.all(children.map((c) => cgroupTreePids(c)));
  return [...own, ...below.flat()];
}

async function childCgroups(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
}

/**
 * SIGKILLs every process in cgroup `dir` and below, waits for them to be reaped, and removes the
 * cgroup (children first). Returns how many processes it found. Idempotent; never throws.
 */
export async function killCgroup(dir: string): Promise<number> {
  const found = (await cgroupTreePids(dir)).length;
  try {
    await writeFile(path.join(dir, "cgroup.kill"), "1");
  } catch {
    // Kernels before 5.14 have no cgroup.kill: signal each member.
    for (const pid of await cgroupTreePids(dir)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
  // A cgroup can be removed only once its last member has been reaped.
  for (let i = 0; i < 100; i++) {
    if ((await cgroupTreePids(dir)).length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await removeCgroup(dir);
  return found;
}

async function removeCgroup(dir: string): Promise<void> {
  for (const c of await childCgroups(dir)) await removeCgroup(c);
  await rmdir(dir).catch(() => undefined);
}

/** The cgroups directly under this process's own whose names start with `prefix`. */
export async function ownChildCgroups(prefix: string): Promise<string[]> {
  const parent = await ownCgroupDir();
  if (parent === undefined) return [];
  return (await childCgroups(parent)).filter((d) => path.basename(d).startsWith(prefix));
}
