import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../support/run-cli.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "pilot-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("wms pilot", () => {
  it("documents every option in --help", async () => {
    const r = await runCli(["pilot", "--help"]);
    expect(r.code).toBe(0);
    for (const opt of ["--site", "--token", "--workdir", "--walltime", "--max-empty", "--sites-file", "--pilot-cert", "--pilot-key", "--json"]) expect(r.stdout).toContain(opt);
  });

  it("refuses to start without a token, in one line with its code", async () => {
    const r = await runCli(["pilot", "--site", "S"], { env: { WMS_PILOT_TOKEN: "" } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("E1001");
    expect(r.stderr).toContain("WMS_PILOT_TOKEN");
  });

  it("rejects a malformed --walltime", async () => {
    const r = await runCli(["pilot", "--site", "S", "--token", "t".repeat(20), "--walltime", "soon"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--walltime");
  });

  it("names the known sites when --site is not in the site file", async () => {
    const sites = path.join(dir, "sites.yaml");
    writeFileSync(sites, `schemaVersion: 1\nsites:\n  - name: SITE_A\n    storagePath: ${dir}\n`);
    const r = await runCli(["pilot", "--site", "NOPE", "--sites-file", sites, "--workdir", dir], { env: { WMS_PILOT_TOKEN: "t".repeat(20) } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("E1005");
    expect(r.stderr).toContain("SITE_A");
  });
});
