// Folders a long-running command makes from its command line (`--work-dir`, `--spool-dir`, `pki
// issue --out`): one coded line before anything starts, never ENOTDIR from deep inside, and never
// Node's recursive mkdir spinning on procfs (a pilot given /proc/x/y hung at 100% CPU, deaf to SIGTERM).
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "./support/run-cli.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "wms-cli-folders-"));
const file = path.join(dir, "a-file");
writeFileSync(file, "not a folder\n");
const sites = path.join(dir, "sites.yaml");
writeFileSync(sites, `schemaVersion: 1\nsites:\n  - name: SITE_A\n    storagePath: ${dir}\n`);
const factoryFile = path.join(dir, "factory.yaml");
writeFileSync(factoryFile, "factoryId: fac-folders\nqueues:\n  - name: q\n    site: SITE_A\n");

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("folders named on a service's command line", () => {
  it("refuses a work or spool folder through a file, or where the file system holds none, in one coded line, making nothing", { timeout: 120_000 }, async () => {
    const pilot = (workDir: string): string[] => ["pilot", "--site", "SITE_A", "--sites-file", sites, "--token", "t".repeat(24), "--work-dir", workDir];
    const cases: Array<[string[], number, RegExp]> = [
      [pilot(path.join(file, "work")), 2, /^wms: error E1008 USAGE: .*a-file is a file, not a folder$/],
      [pilot(file), 2, /^wms: error E1008 USAGE: .*a-file is a file, not a folder$/],
      [pilot("/proc/wms-folders-test/work"), 1, /^wms: error E1015 FOLDER_UNCREATABLE: .*cannot make \/proc\/wms-folders-test: ENOENT/],
      [["factory", "run", "--factory-file", factoryFile, "--work-dir", path.join(file, "factory")], 2, /^wms: error E1008 USAGE: .*a-file is a file, not a folder$/],
      [["factory", "run", "--factory-file", factoryFile, "--work-dir", "/proc/wms-folders-test"], 1, /^wms: error E1015 FOLDER_UNCREATABLE: /],
      [["credentials", "serve", "--spool-dir", path.join(file, "spool")], 2, /^wms: error E1008 USAGE: .*a-file is a file, not a folder$/],
      [["pki", "issue", "--dir", path.join(dir, "pki"), "--kind", "user", "--dn", "/DC=org/CN=Folder Test", "--out", path.join(file, "x", "cert")], 2, /^wms: error E1008 USAGE: .*a-file is a file, not a folder$/],
      // A folder that already holds what the command would make: the command line names a target in use, as for wms init and secrets init.
      [["pki", "init", "--dir", path.join(dir, "pki")], 2, /^wms: error E1008 USAGE: .*already holds a CA/],
    ];
    expect((await runCli(["pki", "init", "--dir", path.join(dir, "pki")], { cwd: dir })).code).toBe(0);
    for (const [args, code, line] of cases) {
      const t0 = Date.now();
      const r = await runCli(args, { cwd: dir, env: { WMS_PKI_DIR: path.join(dir, "no-pki") }, timeoutMs: 30_000 });
      const lines = r.stderr.trim().split("\n");
      expect([r.code, lines.length], `${args.join(" ")} (${Date.now() - t0} ms): ${r.stderr}`).toEqual([code, 1]);
      expect(lines[0], args.join(" ")).toMatch(line);
    }
    // A file written where the file system takes none (the folder exists but refuses new files).
    const keyring = await runCli(["credentials", "rotate-key", "--keyring", "/proc/wms-keyring-test.json"], { cwd: dir, timeoutMs: 30_000 });
    expect([keyring.code, keyring.stderr.trim().split("\n").length], keyring.stderr).toEqual([1, 1]);
    expect(keyring.stderr.trim()).toMatch(/^wms: error E1016 FILE_SYSTEM_REFUSED: .*open \/proc\/wms-keyring-test\.json.*: ENOENT$/);
    // Nothing made beside the files the test wrote.
    expect(readdirSync(dir).sort()).toEqual(["a-file", "factory.yaml", "pki", "sites.yaml"]);
  });
});
