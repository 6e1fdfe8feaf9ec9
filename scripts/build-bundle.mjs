#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/main.js) with esbuild into dist/bundle/: one file per entry
// and a few shared chunks instead of several hundred modules (TypeBox alone is ~200 files, then
// yaml, node-forge, nats), since at start-up a pilot spends most of its CPU finding, reading and
// compiling modules. Code splitting keeps the command groups apart, so `wms --help` still loads
// only the program. bin/wms.mjs runs the bundle when it exists, dist/cli/main.js otherwise.
//
// The bundle lives beside the compiled tree it was made from, and every module's `import.meta.url`
// is rewritten to that module's place in dist/, so what the code finds relative to itself (the Lua
// scripts, the precompiled validators, the JSON schemas, package.json, bin/wms.mjs) is found where
// the compiled build has it. Packages that find their own files at run time or start workers by
// file name (pino's transports), or that load on demand anyway (ioredis, amqplib), stay outside
// and load from node_modules as before. Without esbuild installed (a production install) this
// does nothing and the unbundled build runs. Usage: node scripts/build-bundle.mjs [--quiet]
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "dist");
const OUT = join(DIST, "bundle");
const quiet = process.argv.includes("--quiet");

/** Packages not bundled: they read files beside themselves, start workers by path, or are loaded only on demand. */
const EXTERNAL = ["pino", "pino-pretty", "thread-stream", "ioredis", "amqplib", "fastify", "@fastify/*", "prom-client", "ajv", "ajv-formats", "cli-progress", "playwright-core", "typescript", "tsx", "esbuild"];

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  if (!quiet) console.log("build: esbuild is not installed; the unbundled build in dist/ runs");
  rmSync(OUT, { recursive: true, force: true });
  process.exit(0);
}

/** Each module of dist/ keeps the address it had there: `import.meta.url` is rewritten to it, relative to the bundle. */
const distUrls = {
  name: "dist-import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.(js|mjs)$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      if (!args.path.startsWith(DIST + sep) || !text.includes("import.meta.url")) return undefined;
      const rel = relative(OUT, args.path).split(sep).join("/");
      return { contents: text.replaceAll("import.meta.url", `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: "js", resolveDir: dirname(args.path) };
    });
  },
};

rmSync(OUT, { recursive: true, force: true });
const entry = join(DIST, "cli", "main.js");
if (!existsSync(entry)) {
  console.error("build: dist/cli/main.js is missing; run scripts/build.mjs");
  process.exit(1);
}
await esbuild.build({
  entryPoints: { wms: entry },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  chunkNames: "chunk-[hash]",
  external: EXTERNAL,
  // Bundled CommonJS (node-forge, commander) calls require() for Node's own modules.
  banner: { js: 'import { createRequire as __wmsCreateRequire } from "node:module"; const require = __wmsCreateRequire(import.meta.url);' },
  plugins: [distUrls],
  logLevel: "warning",
  legalComments: "none",
});
if (!quiet) console.log(`build: dist/bundle/ made from dist/cli/main.js`);
