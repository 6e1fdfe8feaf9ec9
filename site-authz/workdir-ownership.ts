// Hands a job's working directory to the mapped account and takes it back afterwards: the
// switched identity must be able to work there, and the pilot restores the original permissions.
import { constants, type Stats } from "node:fs";
import { chmod, lchown, lstat, open, readdir, stat, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { ERR, WmsError } from "../schemas/index.ts";

export interface OwnershipEntry {
  readonly path: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly symlink: boolean;
}

/** What `takeOwnership` changed, to undo. */
export interface OwnershipRecord {
  readonly root: string;
  readonly entries: readonly OwnershipEntry[];
}

/** The account must be able to walk from / down to its working directory. */
export async function checkReachable(workdir: string, uid: number, gid: number): Promise<void> {
  let dir = path.dirname(path.resolve(workdir));
  for (;;) {
    const st = await stat(dir);
    const ok = (st.uid === uid && st.mode & 0o100) || (st.gid === gid && st.mode & 0o010) || st.mode & 0o001;
    if (!ok) {
      throw new WmsError(
        ERR.SWITCH_FAILED,
        `${dir} (mode 0${(st.mode & 0o7777).toString(8)}, uid ${st.uid}) cannot be searched by uid ${uid}; give it o+x (e.g. 0711) so the payload reaches ${workdir}`,
      );
    }
    const up = path.dirname(dir);
    if (up === dir) return;
    dir = up;
  }
}

async function walk(p: string, visit: (p: string, st: Stats) => Promise<void>): Promise<void> {
  const st = await lstat(p);
  await visit(p, st);
  if (st.isDirectory()) for (const e of await readdir(p)) await walk(path.join(p, e), visit);
}

/** Gives the directory tree to uid:gid (the top 0700, so other local users stay out), recording what it was. */
export async function takeOwnership(root: string, uid: number, gid: number): Promise<OwnershipRecord> {
  const entries: OwnershipEntry[] = [];
  await walk(root, async (p, st) => {
    entries.push({ path: p, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, symlink: st.isSymbolicLink() });
    await lchown(p, uid, gid);
  });
  await chmod(root, 0o700);
  return { root, entries };
}

/** Opens without following a symlink in the last component, so fchown/fchmod act on what is really there. */
async function openNoFollow(p: string, dir: boolean): Promise<FileHandle | undefined> {
  try {
    return await open(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | (dir ? constants.O_DIRECTORY : 0));
  } catch {
    return undefined; // gone, or swapped for a symlink or fifo: not ours to touch
  }
}

/**
 * Gives everything back. A payload process may have escaped its process group and still run, so
 * first every directory is locked top-down (owner = the original top owner, 0700) before anything
 * in it is touched: once a directory is locked, the account can no longer swap its entries for
 * symlinks, and all changes go through O_NOFOLLOW file handles. Then recorded entries get their
 * owner and mode back (deepest first); what the account made meanwhile stays with the original
 * owner (the pilot stages it out), so nothing of the account is left in the directory.
 * Returns how many entries it changed.
 */
export async function restoreOwnership(rec: OwnershipRecord, uid: number): Promise<number> {
  const top = rec.entries.find((e) => e.path === rec.root);
  if (!top) return 0;
  let changed = 0;
  const lock = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => undefined);
    if (!st) return;
    if (st.isDirectory()) {
      const fh = await openNoFollow(p, true);
      if (!fh) return;
      try {
        await fh.chown(top.uid, top.gid);
        await fh.chmod(0o700);
      } finally {
        await fh.close();
      }
      changed++;
      for (const e of await readdir(p).catch(() => [] as string[])) await lock(path.join(p, e));
    } else if (st.uid === uid) {
      await lchown(p, top.uid, top.gid);
      changed++;
    }
  };
  await lock(rec.root);
  for (const e of [...rec.entries].reverse()) {
    const st = await lstat(e.path).catch(() => undefined);
    if (!st) continue; // the payload deleted it
    if (st.isSymbolicLink() || e.symlink) {
      if (st.isSymbolicLink() && e.symlink) await lchown(e.path, e.uid, e.gid);
      continue;
    }
    if (!st.isDirectory() && !st.isFile()) continue;
    const fh = await openNoFollow(e.path, st.isDirectory());
    if (!fh) continue;
    try {
      await fh.chown(e.uid, e.gid);
      await fh.chmod(e.mode);
    } finally {
      await fh.close();
    }
    changed++;
  }
  return changed;
}
