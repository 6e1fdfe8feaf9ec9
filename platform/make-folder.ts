// Making a folder the user named, with its missing parents, one level at a time. Node's
// `mkdir({ recursive: true })` takes every ENOENT for "a parent is missing", makes the parent
// (which exists) and retries, forever, where a file system answers ENOENT for a child it will never
// hold: `wms init /proc/x` spun at 100% CPU and never returned (procfs answers a mkdir in it with
// ENOENT, as measured on Node 20 and 22). Here an ENOENT once the parent exists is final.
import { mkdirSync, statSync, type Stats } from "node:fs";
import path from "node:path";
import { ERR, WmsError } from "../schemas/index.ts";

function statOf(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Missing, or a file where a folder of its path should be (found on the way up).
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new WmsError(ERR.FOLDER_UNCREATABLE, `cannot make ${p}: ${code ?? (e as Error).message}`);
  }
}

/**
 * Makes folder `dir` and the parents it lacks (each with `mode`); nothing when it exists. A file
 * where a folder must be is E1008 USAGE (the command line names something that cannot be a
 * folder); a file system that refuses (procfs, sysfs, read-only, no permission, full) E1015.
 */
export function makeFolder(dir: string, mode?: number): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (let st = statOf(at); st === undefined || !st.isDirectory(); st = statOf(at)) {
    if (st !== undefined) throw new WmsError(ERR.USAGE, `${at} is a file, not a folder`);
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const d of missing) {
    try {
      mkdirSync(d, mode === undefined ? undefined : { mode });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Made meanwhile by someone else: as good.
      if (code === "EEXIST" && statOf(d)?.isDirectory()) continue;
      const why = code === "ENOENT" ? "ENOENT: this file system holds no folders made by users" : code === "EROFS" ? "EROFS: a read-only file system" : (code ?? (e as Error).message);
      throw new WmsError(ERR.FOLDER_UNCREATABLE, `cannot make ${d}: ${why}; name a folder elsewhere`);
    }
  }
}
