// Where the package's own files are (bin/wms.mjs, examples/), found by walking up from this module
// to the package.json named pilot-wms: the same answer whether this file runs as TypeScript from
// the source tree or compiled into a build folder one level deeper.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "pilot-wms") return (cached = dir);
      } catch {
        /* not ours; keep climbing */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error("cannot find the pilot-wms package folder above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** `bin/wms.mjs`: what `wms up` and the factory start child processes with. */
export function wmsBin(): string {
  return path.join(packageRoot(), "bin", "wms.mjs");
}
