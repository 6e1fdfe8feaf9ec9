import { describe, expect, it } from "vitest";
import { matchAds, parseClassAd } from "../../matchmaker/classad/index.ts";
import { autoclusterKey, jobAdText } from "../../jobs/index.ts";
import type { JobSpec } from "../../schemas/index.ts";
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

describe("machine ad against the matchmaker's job ads", () => {
  const jobAd = (over: Partial<{ cores: number; memoryMb: number; walltimeSec: number; requirements: string }>) =>
    parseClassAd(
      jobAdText(
        autoclusterKey({
          ...({} as JobSpec),
          cores: 1,
          memoryMb: 2000,
          walltimeSec: 1800,
          vo: "vo",
          group: "",
          userDn: "/CN=u",
          priority: 0,
          requirements: "",
          rank: "0",
          ...over,
        } as JobSpec),
      ),
    );

  it("parses, and matches a job that fits its slot", () => {
    const m = matchAds(jobAd({}), parseClassAd(buildMachineAd(facts)));
    expect(m.match).toBe(true);
  });

  it("refuses, by its own Requirements, a job longer than its walltime left or bigger than it", () => {
    const machine = parseClassAd(buildMachineAd(facts));
    for (const over of [{ walltimeSec: 7200 }, { cores: 8 }, { memoryMb: 16000 }]) {
      const m = matchAds(jobAd(over), machine);
      expect(m.match).toBe(false);
      expect(m.machineRequirements).toEqual({ kind: "boolean", value: false });
    }
  });

  it("lets job Requirements select on the site and software tags", () => {
    const machine = parseClassAd(buildMachineAd(facts));
    expect(matchAds(jobAd({ requirements: 'TARGET.Site == "SITE_A" && member("root-6.30", TARGET.SoftwareTags)' }), machine).match).toBe(true);
    expect(matchAds(jobAd({ requirements: 'member("geant4", TARGET.SoftwareTags)' }), machine).match).toBe(false);
  });

  it("reads with HTCondor's names on both sides, so a pool's Requirements and Rank work unchanged", () => {
    const machine = parseClassAd(buildMachineAd({ ...facts, opSysAndVer: "AlmaLinux9", totalCpus: 16, hasSingularity: true }));
    const req = 'TARGET.Memory >= RequestMemory && TARGET.Cpus >= RequestCpus && TARGET.OpSysAndVer == "AlmaLinux9" && TARGET.HasSingularity && TARGET.GLIDEIN_Site == "SITE_A" && TARGET.TotalCpus >= 16';
    const job = jobAd({ requirements: req, cores: 2 });
    expect(job.evaluateAttr("RequestCpus")).toEqual({ kind: "integer", value: 2 });
    expect(job.evaluateAttr("x509userproxysubject")).toEqual({ kind: "string", value: "/CN=u" });
    expect(job.evaluateAttr("Owner")).toEqual({ kind: "string", value: "u" });
    expect(job.evaluateAttr("MaxWallTimeMins")).toEqual({ kind: "integer", value: 30 });
    expect(matchAds(job, machine).match).toBe(true);
    expect(matchAds(jobAd({ requirements: 'TARGET.OpSysAndVer == "CentOS7"' }), machine).match).toBe(false);
  });

  it("keeps the old job-ad names as aliases for one release", () => {
    const machine = parseClassAd(buildMachineAd(facts));
    const job = jobAd({ requirements: "TARGET.Memory >= MemoryMb && TARGET.Cpus >= Cores && TARGET.WalltimeLeft >= WalltimeSec", cores: 2, memoryMb: 3000 });
    expect(matchAds(job, machine).match).toBe(true);
  });
});
