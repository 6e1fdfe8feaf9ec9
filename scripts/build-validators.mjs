// Compiles every wire message's Ajv validator ahead of time into dist/schemas/validators/<Name>.cjs
// (Ajv's standalone code, CommonJS so schemas/message.ts can require the one it needs synchronously,
// on first use). Compiling costs tens of ms per schema; a pilot needs several before its first
// advert, every CLI call a few. Each file records the digest of the schema it was made from, and a
// process compiles for itself when the digest does not match. Run by scripts/build.mjs after it
// compiled anything; on its own: node scripts/build-validators.mjs [--quiet]
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "dist");
const OUT = join(DIST, "schemas", "validators");
const quiet = process.argv.includes("--quiet");

function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (p !== OUT) yield* walk(p);
    } else if (e.name.endsWith(".js")) yield p;
  }
}

const message = await import(pathToFileURL(join(DIST, "schemas", "message.js")).href);
// Every compiled module that defines a message (they only define things when imported).
for (const file of walk(DIST)) {
  if (file.includes(`${join("dist", "bin")}`)) continue;
  if (readFileSync(file, "utf8").includes("defineMessage(")) await import(pathToFileURL(file).href);
}
const { default: standaloneCode } = await import("ajv/dist/standalone/index.js");

mkdirSync(OUT, { recursive: true });
const keep = new Set();
let written = 0;
for (const [name, schema] of message.definedMessages()) {
  if (!message.PRECOMPILABLE_NAME.test(name)) continue;
  const file = join(OUT, `${name}.cjs`);
  keep.add(file);
  const digest = message.schemaDigest(schema);
  if (existsSync(file) && readFileSync(file, "utf8").includes(`exports.schemaDigest = "${digest}";`)) continue;
  const ajv = message.messageAjv({ code: { source: true } });
  const validate = ajv.compile(schema);
  // standaloneCode exports the function as module.exports; we export it under a name beside the digest.
  const code = standaloneCode(ajv, validate).replace(/^"use strict";module\.exports = (\w+);module\.exports\.default = \1;/, '"use strict";exports.validate = $1;');
  if (!code.includes("exports.validate = ")) throw new Error(`build-validators: unexpected standalone code for ${name}`);
  writeFileSync(file, `${code}\nexports.schemaDigest = "${digest}";\n`);
  written++;
}
let removed = 0;
for (const f of readdirSync(OUT)) {
  const p = join(OUT, f);
  if (!keep.has(p)) {
    rmSync(p);
    removed++;
  }
}
if (!quiet || written > 0 || removed > 0) console.log(`build: ${keep.size} validators in ${relative(ROOT, OUT)} (${written} compiled, ${removed} removed)`);
