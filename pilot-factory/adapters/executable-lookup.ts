import { accessSync, constants, statSync } from "node:fs";
import path from "node:path";

/** The full path of `name` in a PATH string, or undefined: how the adapters learn whether condor_submit / sbatch are installed. */
export function findExecutable(name: string, pathEnv: string | undefined): string | undefined {
  for (const dir of (pathEnv ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}
