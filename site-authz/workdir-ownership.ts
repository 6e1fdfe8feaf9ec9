// Hands a job's working directory to the mapped account and takes it back afterwards (seed 001:
// the switched identity must be able to work there; the pilot restores the original permissions).
import type { Stats } from "node:fs";
import { chmod, lchown, lstat, readdir, stat } from "node:fs/promises";
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

/**
 * Gives everything back: recorded entries get their owner and mode again; what the account made
 * meanwhile goes to the directory's original owner (the pilot stages it out), so nothing of the
 * account is left in it. Never follows a symlink: a payload may have planted one where a
 * directory was. Returns how many entries it changed.
 */
export async function restoreOwnership(rec: OwnershipRecord, uid: number): Promise<number> {
  const top = rec.entries.find((e) => e.path === rec.root);
  if (!top) return 0;
  let changed = 0;
  const known = new Map(rec.entries.map((e) => [e.path, e]));
  try {
    await walk(rec.root, async (p, st) => {
      const was = known.get(p);
      if (was) return;
      if (st.uid === uid) {
        await lchown(p, top.uid, top.gid);
        changed++;
      }
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  // Deepest first, so a directory is handed back only after its contents.
  for (const e of [...rec.entries].reverse()) {
    let st;
    try {
      st = await lstat(e.path);
    } catch {
      continue; // the payload deleted it
    }
    await lchown(e.path, e.uid, e.gid);
    if (!st.isSymbolicLink() && !e.symlink) await chmod(e.path, e.mode);
    changed++;
  }
  return changed;
}
