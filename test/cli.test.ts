import { describe, expect, it } from "vitest";
import { runCli } from "./support/run-cli.ts";

describe("wms CLI", () => {
  it("lists every command of the design in --help", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    for (const c of ["services", "errors", "classad", "pki", "proxy", "credentials", "site", "replica", "task", "intake", "matchmaker", "pilot", "factory", "agents", "accounting", "monitor", "demo"]) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, "m"));
    }
  });

  it("an unknown command is a usage error (exit 2), not a stack trace", async () => {
    const r = await runCli(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command");
    expect(r.stderr).not.toContain("    at ");
  });
});
