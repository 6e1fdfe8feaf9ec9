// Vitest global set-up: brings dist/ up to date with the sources before any test starts `wms`, so
// the CLI tests run the compiled build (as users do) and never a stale one. Only files changed
// since the last build are compiled; with nothing changed this costs a few directory reads.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL("../../scripts/build.mjs", import.meta.url)), "--quiet"], { stdio: "inherit" });
}
