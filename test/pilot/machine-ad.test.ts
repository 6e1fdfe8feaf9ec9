import { describe, expect, it } from "vitest";
import { buildMachineAd, classAdString, condorArch, condorOpSys, PILOT_REQUIREMENTS } from "../../agents/pilot/machine-ad.ts";

const facts = {
  cpus: 4,
  memoryMb: 8000.7,
  diskKb: 123456,
  opSys: "LINUX",
  arch: "X86_64",
  machine: "wn01.example.org",
  site: "SITE_A",
  nodeVersion: "20.11.1",
  softwareTags: ["root-6.30", 'odd"tag'],
  walltimeLeftSec: 3599.9,
  pilotId: "pilot-1",
};

describe("machine ad", () => {
  it("states the node's resources and the pilot's own Requirements", () => {
    const ad = buildMachineAd(facts);
    expect(ad).toContain("Cpus = 4;");
    expect(ad).toContain("Memory = 8000;");
    expect(ad).toContain("Disk = 123456;");
    expect(ad).toContain('Site = "SITE_A";');
    expect(ad).toContain('OpSys = "LINUX";');
    expect(ad).toContain("WalltimeLeft = 3599;");
    expect(ad).toContain(`Requirements = ${PILOT_REQUIREMENTS};`);
    expect(ad.startsWith("[") && ad.trimEnd().endsWith("]")).toBe(true);
  });

  it("lists software tags as a ClassAd list of escaped strings", () => {
    expect(buildMachineAd(facts)).toContain('SoftwareTags = { "root-6.30", "odd\\"tag" };');
    expect(buildMachineAd({ ...facts, softwareTags: [] })).toContain("SoftwareTags = {  };");
  });

  it("escapes backslashes and drops control characters in strings", () => {
    expect(classAdString('a\\b"c\n')).toBe('"a\\\\b\\"c"');
  });

  it("spells platform and arch the way HTCondor does", () => {
    expect(condorOpSys("linux")).toBe("LINUX");
    expect(condorArch("x64")).toBe("X86_64");
    expect(condorArch("arm64")).toBe("AARCH64");
    expect(condorArch("riscv64")).toBe("RISCV64");
  });
});
