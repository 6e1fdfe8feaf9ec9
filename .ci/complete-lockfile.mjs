#!/usr/bin/env node
// Usage: node .ci/complete-lockfile.mjs package-lock.json  (after any `npm install` that rewrote the lock)
// Adds lock entries for other platforms' optional packages that this machine's partial npm mirror
// lacks, so `npm ci` accepts the lock; npm never fetches them here (os/cpu do not match).
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
const lockPath = process.argv[2];
const lock = JSON.parse(readFileSync(lockPath, "utf8"));
let added = 0;
for (const [path, pkg] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    if (lock.packages[key]) continue;
    let meta = {};
    try {
      meta = JSON.parse(execFileSync("npm", ["view", dep, "os", "cpu", "libc", "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }) || "{}");
    } catch {}
    const entry = { version, optional: true };
    for (const f of ["cpu", "libc", "os"]) if (meta[f]) entry[f] = meta[f];
    lock.packages[key] = entry;
    added++;
    console.log("added", key, version, JSON.stringify(entry));
  }
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))));
lock.packages = sorted;
writeFileSync(lockPath, JSON.stringify(lock, null, 2) + "\n");
console.log("added", added);
