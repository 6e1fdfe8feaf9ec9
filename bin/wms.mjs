#!/usr/bin/env node
// The `wms` entry point. `npm ci` compiles the sources to dist/ (`prepare`: scripts/build.mjs) and
// bundles the compiled CLI into dist/bundle/ (scripts/build-bundle.mjs), and this runs the bundle
// (or the compiled tree, where esbuild was not installed to make one): no TypeScript is transpiled
// at run time and few files are loaded, so every pilot and every command starts in a fraction of
// the CPU. WMS_DEV=1 runs the TypeScript sources through tsx instead (a devDependency), as does a
// checkout with no dist/ yet. dist/bin/wms.mjs is a copy of this file: compiled code that starts
// `wms` children finds it there and runs the build beside it. WMS_BUNDLE=0 runs the compiled tree
// even where a bundle exists (stack traces then name dist/ files; the cli bench compares the two).
import { existsSync } from "node:fs";

const first = (...urls) => urls.map((u) => new URL(u, import.meta.url)).find((u) => existsSync(u));
const bundled = process.env.WMS_BUNDLE !== "0";
const beside = first(...(bundled ? ["../bundle/wms.js"] : []), "../cli/main.js");
const built = process.env.WMS_DEV === "1" ? undefined : first(...(bundled ? ["../dist/bundle/wms.js"] : []), "../dist/cli/main.js");
if (existsSync(new URL("../cli/main.js", import.meta.url)) && beside) {
  await import(beside.href);
} else if (built) {
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
