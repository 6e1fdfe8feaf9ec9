#!/usr/bin/env node
// The `wms` entry point. `npm ci` compiles the sources to dist/ (`prepare`: scripts/build.mjs), and
// this runs the compiled CLI: no TypeScript is transpiled at run time, so every pilot and every
// command starts in a fraction of the CPU. WMS_DEV=1 runs the TypeScript sources through tsx
// instead (a devDependency), as does a checkout with no dist/ yet. dist/bin/wms.mjs is a copy of
// this file: compiled code that starts `wms` children finds it there and runs the dist/ beside it.
import { existsSync } from "node:fs";

const beside = new URL("../cli/main.js", import.meta.url);
const built = new URL("../dist/cli/main.js", import.meta.url);
if (existsSync(beside)) {
  await import(beside.href);
} else if (process.env.WMS_DEV !== "1" && existsSync(built)) {
  await import(built.href);
} else {
  let register;
  try {
    ({ register } = await import("tsx/esm/api"));
  } catch {
    process.stderr.write("wms: error E1000 INTERNAL: no compiled build in dist/ and no tsx to run the sources; run 'npm run build'\n");
    process.exit(1);
  }
  register();
  await import("../cli/main.ts");
}
