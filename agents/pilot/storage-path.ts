// Resolves a path under a root and refuses any that would leave it: lfns and dataset names come
// from the wire, and a `..` in one must not let a job read or write outside the site storage.
import path from "node:path";

/** The absolute path of `rel` under `root`, or undefined when it escapes `root` or is absolute. */
export function resolveInside(root: string, rel: string): string | undefined {
  if (rel === "" || path.isAbsolute(rel) || rel.includes("\0")) return undefined;
  const base = path.resolve(root);
  const full = path.resolve(base, rel);
  return full.startsWith(base + path.sep) ? full : undefined;
}
