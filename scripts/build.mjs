#!/usr/bin/env node
// Compiles the TypeScript sources to dist/ (same tree, `.ts` → `.js`) and copies the files the code
// loads at run time (Lua scripts, JSON, anything that is not TypeScript or Markdown) beside them,
// so `node bin/wms.mjs` starts without transpiling at run time. Type checking is `npm run
// typecheck`'s job; this is a per-file transpile (verbatimModuleSyntax keeps every import as
// written, rewriteRelativeImportExtensions turns `./x.ts` into `./x.js`), so it is fast enough to
// run before every test run; the compiled CLI is then bundled (build-bundle.mjs). Only files newer
// than their output are redone; outputs whose source is gone are removed.
// Usage: node scripts/build.mjs [--clean] [--quiet]
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "dist");
/** Folders tsconfig.json type-checks that are not part of the program: tests and benchmarks run from source, bin/ is copied below. */
const NOT_SOURCE = new Set(["test", "bench", "bin"]);
const NOT_ASSET = /\.(ts|md)$|^\.keep$/;

const args = new Set(process.argv.slice(2));

// A pull that added a dependency, built without 'npm ci': esbuild would fail on each import of it
// with a stack trace, and the compiled tree would fail at run time. Said once, before anything is
// written, with what to run.
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const notInstalled = Object.keys(pkg.dependencies ?? {}).filter((name) => !existsSync(join(ROOT, "node_modules", name, "package.json")));
if (notInstalled.length > 0) {
  process.stderr.write(`build: error: not installed: ${notInstalled.join(", ")} (package.json asks for ${notInstalled.length === 1 ? "it" : "them"}); run 'npm ci' in ${ROOT}\n`);
  process.exit(1);
}
if (args.has("--clean")) rmSync(DIST, { recursive: true, force: true });

function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : -1);
// The program's folders are the ones tsconfig.json names, not whatever else sits at the top: a
// deployment folder a user made with `wms init` in the checkout (keys, data) must not end up in dist/.
const sourceDirs = JSON.parse(readFileSync(join(ROOT, "tsconfig.json"), "utf8"))
  .include.filter((name) => /^[\w-]+$/.test(name) && !NOT_SOURCE.has(name) && existsSync(join(ROOT, name)) && statSync(join(ROOT, name)).isDirectory())
  .map((name) => join(ROOT, name));

/** dist path → source path, for every file dist/ should hold. */
const wanted = new Map();
const stale = [];
for (const dir of sourceDirs) {
  for (const src of walk(dir)) {
    const rel = relative(ROOT, src);
    if (rel.endsWith(".d.ts") || rel.endsWith(".test.ts")) continue;
    const isTs = rel.endsWith(".ts");
    if (!isTs && NOT_ASSET.test(rel.split("/").pop())) continue;
    const out = join(DIST, isTs ? rel.slice(0, -3) + ".js" : rel);
    wanted.set(out, src);
    if (mtime(src) > mtime(out)) stale.push([src, out, isTs]);
  }
}
// The compiled copy of the entry point: compiled code finds `../../bin/wms.mjs` inside dist/.
const binSrc = join(ROOT, "bin", "wms.mjs");
const binOut = join(DIST, "bin", "wms.mjs");
wanted.set(binOut, binSrc);
if (mtime(binSrc) > mtime(binOut)) stale.push([binSrc, binOut, false]);

let ts;
let compiled = 0;
for (const [src, out, isTs] of stale) {
  mkdirSync(dirname(out), { recursive: true });
  if (!isTs) {
    copyFileSync(src, out);
    continue;
  }
  ts ??= (await import("typescript")).default;
  const r = ts.transpileModule(readFileSync(src, "utf8"), {
    fileName: src,
    reportDiagnostics: true,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      verbatimModuleSyntax: true,
      rewriteRelativeImportExtensions: true,
      removeComments: false,
    },
  });
  const errors = (r.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    const first = errors[0];
    console.error(`build: ${relative(ROOT, src)}: ${ts.flattenDiagnosticMessageText(first.messageText, "\n")}`);
    process.exit(1);
  }
  writeFileSync(out, r.outputText);
  compiled++;
}

// The ahead-of-time validators and the bundle are the build's own output (build-validators.mjs and
// build-bundle.mjs keep them in step).
const VALIDATORS = join(DIST, "schemas", "validators");
const BUNDLE = join(DIST, "bundle");
let removed = 0;
if (existsSync(DIST)) {
  for (const out of walk(DIST)) {
    if (wanted.has(out) || out.startsWith(VALIDATORS + "/") || out.startsWith(BUNDLE + "/")) continue;
    rmSync(out);
    removed++;
  }
  // Folders left empty (a source folder that is gone, or no longer the program's) go too.
  const pruneEmpty = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) pruneEmpty(join(dir, e.name));
    if (dir !== DIST && readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
  };
  if (removed > 0) pruneEmpty(DIST);
}
if (!args.has("--quiet") || stale.length > 0 || removed > 0) {
  // "up to date" only when nothing was done: a fresh `npm ci` compiles every file, and said so.
  const done = stale.length > 0 || removed > 0 ? "built" : "up to date";
  console.log(`build: dist/ ${done} (${compiled} compiled, ${stale.length - compiled} copied, ${removed} removed, ${wanted.size} files)`);
}
const quiet = args.has("--quiet") ? ["--quiet"] : [];
// A step that fails has said why on stderr (inherited); its exit code is passed on without
// execFileSync's stack trace on top.
const step = async (script) => {
  const { spawnSync } = await import("node:child_process");
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", script), ...quiet], { stdio: "inherit" });
  if (r.status !== 0) {
    process.stderr.write(`build: error: scripts/${script} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(1);
  }
};
if (compiled > 0 || removed > 0 || !existsSync(VALIDATORS)) await step("build-validators.mjs");
if (compiled > 0 || removed > 0 || !existsSync(join(BUNDLE, "wms.js"))) await step("build-bundle.mjs");
