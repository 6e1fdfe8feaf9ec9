// `npm run bench -- --out FILE`: runs every suite, prints a table, writes one JSON object.
// Each suite measures its target as a ratio against a baseline run in the same process, because
// the machine is small and noisy; absolute figures are recorded alongside for context.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SUITES } from "./suites/index.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: "bench-out.json" },
    only: { type: "string", multiple: true },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  process.stdout.write(`usage: npm run bench -- [--out FILE] [--only SUITE ...]\nsuites: ${SUITES.map((s) => s.key).join(", ")}\n`);
  process.exit(0);
}

// The suites start `wms` processes, which run the compiled build in dist/: bring it up to date
// first (scripts/build.mjs redoes only what changed), so a bench never measures a stale bundle.
execFileSync(process.execPath, [fileURLToPath(new URL("../scripts/build.mjs", import.meta.url)), "--quiet"], { stdio: "inherit" });

const result: Record<string, Record<string, number | string>> = {};
const started = Date.now();
for (const suite of SUITES) {
  if (values.only && !values.only.includes(suite.key)) continue;
  process.stderr.write(`bench: ${suite.key} ...\n`);
  try {
    result[suite.key] = await suite.run();
  } catch (e) {
    result[suite.key] = { error: (e as Error).message };
  }
  for (const [k, v] of Object.entries(result[suite.key])) {
    process.stdout.write(`  ${`${suite.key}.${k}`.padEnd(44)} ${typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : v}\n`);
  }
}
const doc = { machine: { node: process.version, cpus: (await import("node:os")).cpus().length }, elapsedSec: (Date.now() - started) / 1000, ...result };
writeFileSync(values.out, JSON.stringify(doc, null, 2) + "\n");
process.stdout.write(`wrote ${values.out}\n`);
process.exit(0);
