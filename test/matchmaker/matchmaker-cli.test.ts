import { describe, expect, it } from "vitest";
import { runCli } from "../support/run-cli.ts";
import { roleEnv } from "../support/test-roles.ts";

describe("wms matchmaker", () => {
  it("documents its options", async () => {
    const r = await runCli(["matchmaker", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--instances <n>");
    expect(r.stdout).toContain("services/matchmaker.cert.pem");
  });

  it("refuses to start without the matchmaker's certificate, in one line with its code", async () => {
    const r = await runCli(["matchmaker"], { env: { ...roleEnv("matchmaker"), WMS_PKI_DIR: "/nonexistent-pki", WMS_CONFIG: undefined } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("E1007");
    expect(r.stderr).toContain("wms pki init");
  });

  it("refuses a bad instance count", async () => {
    const r = await runCli(["matchmaker", "--instances", "0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("E1008");
  });
});
