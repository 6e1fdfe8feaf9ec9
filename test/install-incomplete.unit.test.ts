// A checkout updated (git pull) with a new dependency but no `npm ci` since: the build and `wms`
// say what to run, in one line each, instead of esbuild's errors under two stack traces and an
// E1000 INTERNAL that points at a service log.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ERR, toWmsError } from "../schemas/index.ts";
import { EXIT, exitCodeFor } from "../cli/error-reporting.ts";
import { REPO_ROOT } from "./support/run-cli.ts";

const base = mkdtempSync(path.join(tmpdir(), "wms-install-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("a dependency missing from node_modules", () => {
  it("stops the build before it writes anything, in one line naming the package and 'npm ci'", () => {
    // The build script in a checkout of its own whose package.json asks for a package not installed.
    mkdirSync(path.join(base, "scripts"));
    copyFileSync(path.join(REPO_ROOT, "scripts", "build.mjs"), path.join(base, "scripts", "build.mjs"));
    writeFileSync(path.join(base, "package.json"), JSON.stringify({ name: "x", type: "module", dependencies: { "wms-no-such-package": "^1.0.0" } }));
    const r = spawnSync(process.execPath, [path.join(base, "scripts", "build.mjs")], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`build: error: not installed: wms-no-such-package (package.json asks for it); run 'npm ci' in ${base}/\n`);
    expect(r.stdout).toBe("");
  });

  it("is a coded error that says to run npm ci when wms imports it, not INTERNAL", async () => {
    let thrown: unknown;
    try {
      await import(/* @vite-ignore */ ["wms-no-such", "package"].join("-"));
    } catch (e) {
      thrown = e;
    }
    expect((thrown as { code?: string }).code).toBe("ERR_MODULE_NOT_FOUND");
    const w = toWmsError(thrown);
    expect(w.code).toBe(ERR.INSTALL_INCOMPLETE);
    // The install is the user's to fix, but the command line was right: not the usage exit (2).
    expect(exitCodeFor(w.code)).toBe(EXIT.failed);
    expect(w.toLine()).toMatch(/^E1017 INSTALL_INCOMPLETE: .*package 'wms-no-such-package' is not installed .*run 'npm ci' in the pilot-wms folder$/);
  });
});
