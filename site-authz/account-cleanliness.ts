// Is a local account free of its last user on this node? Before a pool account may go to another
// DN, none of the previous user's processes may run and none of their files may remain where a
// payload can write. The process check is `ps -u` done by reading /proc directly (every uid
// field: real, effective, saved, filesystem), which needs no procps and sees every process as root.
import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";

export interface Cleanliness {
  readonly clean: boolean;
  readonly pids: readonly number[];
  /** Up to `maxListed` files or directories owned by the account. */
  readonly files: readonly string[];
  /** Set when the scan stopped early (too many entries): treated as not clean. */
  readonly truncated: boolean;
}

export async function processesOf(uid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = await readFile(`/proc/${name}/status`, "utf8");
    } catch {
      continue; // exited between readdir and read
    }
    const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    if (m && m.slice(1, 5).some((u) => Number(u) === uid)) {
      // A zombie has released everything it held and only waits for its parent to reap it.
      if (/^State:\s+Z/m.test(status)) continue;
      pids.push(Number(name));
    }
  }
  return pids;
}

/** Walks each directory (not following symlinks) for entries owned by `uid`. */
export async function filesOwnedBy(uid: number, dirs: readonly string[], opts: { maxEntries?: number; maxListed?: number } = {}): Promise<{ files: string[]; truncated: boolean }> {
  const maxEntries = opts.maxEntries ?? 200_000;
  const maxListed = opts.maxListed ?? 20;
  const files: string[] = [];
  let seen = 0;
  let truncated = false;
  const found: string[] = [];
  // A scan root itself (the account's home) may belong to the account; only what is inside counts.
  const walk = async (p: string, root = false): Promise<void> => {
    if (truncated) return;
    if (++seen > maxEntries) {
      truncated = true;
      return;
    }
    let st;
    try {
      st = await lstat(p);
    } catch {
      return;
    }
    if (st.uid === uid && !root) found.push(p);
    if (!st.isDirectory()) return;
    let entries: string[];
    try {
      entries = await readdir(p);
    } catch {
      return;
    }
    for (const e of entries) await walk(path.join(p, e));
  };
  for (const d of new Set(dirs)) await walk(d, true);
  files.push(...found.slice(0, maxListed));
  return { files, truncated };
}

export async function checkAccountClean(uid: number, dirs: readonly string[]): Promise<Cleanliness> {
  const pids = await processesOf(uid);
  const { files, truncated } = await filesOwnedBy(uid, dirs);
  return { clean: pids.length === 0 && files.length === 0 && !truncated, pids, files, truncated };
}

/** Waits until no live process is left in process group `pgid` (zombies only wait to be reaped). */
export async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let alive = false;
    for (const name of await readdir("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      let stat: string;
      try {
        stat = await readFile(`/proc/${name}/stat`, "utf8");
      } catch {
        continue;
      }
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(f[2]) === pgid && f[0] !== "Z" && f[0] !== "X") {
        alive = true;
        break;
      }
    }
    if (!alive) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}
