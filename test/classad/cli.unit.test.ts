import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../support/run-cli.ts";

const dir = mkdtempSync(join(tmpdir(), "wms-classad-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("wms classad", () => {
  it("evaluates one expression with MY and TARGET ads", async () => {
    const r = await runCli(["classad", "eval", "--my", "[ Memory = 4096; Cpus = 8 ]", "--target", '[ Memory = 1024; Site = "CERN" ]', "Memory / TARGET.Memory + Cpus"]);
    expect(r).toMatchObject({ code: 0, stdout: "12\n" });
  });

  it("prints values in ClassAd syntax", async () => {
    const r = await runCli(["classad", "eval", '{ 1, 2.5, "s", [ a = 1 ] }']);
    expect(r.stdout).toBe('{ 1,2.500000000000000E+00,"s",[ a = 1 ] }\n');
  });

  it("reads one expression per line from stdin and prints one line per input line, parse errors included", async () => {
    const input = ["1 + 1", "", "undefined && false", "(1 +", '"a" == "A"', "TARGET.x", "1/0"].join("\n") + "\n";
    const r = await runCli(["classad", "eval", "--target", "[ x = 3 ]"], { input });
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.slice(0, 7)).toEqual(["2", "", "false", expect.stringMatching(/^error: parse error at line 1, column 5: /), "true", "3", "error"]);
    expect(lines).toHaveLength(8);
  });

  it("handles thousands of lines in one process", async () => {
    const input = Array.from({ length: 5000 }, (_, i) => `${i} * 2`).join("\n");
    const r = await runCli(["classad", "eval"], { input });
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(5000);
    expect(lines[4999]).toBe("9998");
  });

  it("reads ads from @file", async () => {
    const file = join(dir, "machine.ad");
    writeFileSync(file, '[ Memory = 8192; OpSys = "LINUX" ]\n');
    const r = await runCli(["classad", "eval", "--my", `@${file}`, 'Memory > 4096 && OpSys == "linux"']);
    expect(r.stdout).toBe("true\n");
  });

  it("fails with one line and the parse error code for a bad expression", async () => {
    const r = await runCli(["classad", "eval", "1 +* 2"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^wms: error E1510 CLASSAD_PARSE: .*line 1, column 4/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("fails clearly for a missing @file, with the code every command gives a file it cannot read", async () => {
    const r = await runCli(["classad", "eval", "--my", "@/nonexistent/ad", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^wms: error E1007 FILE_UNREADABLE: .*cannot read the --my ad[^\n]*\n$/);
    const a = await runCli(["classad", "analyze", "[ Requirements = true ]", "--machines", "/nonexistent/machines"]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^wms: error E1007 FILE_UNREADABLE: .*\/nonexistent\/machines[^\n]*\n$/);
  });

  it("matches a job and a machine and prints JSON", async () => {
    const r = await runCli([
      "classad", "match", "--json",
      '[ Requirements = TARGET.Memory >= 2048 && member(TARGET.Site, {"CERN", "FNAL"}); Rank = TARGET.Memory ]',
      '[ Memory = 4096; Site = "cern"; Requirements = TARGET.Owner =!= "banned" ]',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ match: true, jobRequirements: "true", machineRequirements: "true", jobRank: 4096, machineRank: 4096 });
  });

  it("reports a non-match with the failing Requirements", async () => {
    const r = await runCli(["classad", "match", "--json", "[ Requirements = TARGET.Memory >= 8192 ]", "[ Memory = 4096; Requirements = true ]"]);
    expect(JSON.parse(r.stdout)).toMatchObject({ match: false, jobRequirements: "false", machineRequirements: "true" });
  });

  it("prints the canonical form of an expression", async () => {
    const r = await runCli(["classad", "parse", "a&&b||!c?x=?=y:z[1]"]);
    expect(r.stdout).toBe("a && b ||  !c ? x is y : z[1]\n");
  });

  it("has --help on its commands", async () => {
    const r = await runCli(["classad", "eval", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--my <ad>/);
    expect(r.stdout).toMatch(/--target <ad>/);
  });
});
