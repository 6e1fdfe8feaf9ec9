import { describe, expect, it } from "vitest";
import {
  ClassAd, compile, evaluate, matchAds, parseClassAd, parseExpr, parseExprWithWarnings, parseWarnings, referencedAttributes, signature,
  stringValue, intValue, valueToString,
} from "../../matchmaker/classad/index.ts";

// src/classad/tests.txt: Job-1 matches Machine-1 symmetrically, and not Machine-2.
const job1 = parseClassAd('[ Requirements = (other.Type == "Machine" && other.memory >= 4000); Type = "Job"; Memoryused = 6000 ]');
const machine1 = parseClassAd('[ Type = "machine"; Requirements = (other.Type == "job" && other.memoryused < 8000); Memory = 5000 ]');
const machine2 = parseClassAd('[ Type = "Machine"; Requirements = other.mytype == "Job"; Memory = 3000 ]');

describe("symmetric matching", () => {
  it("matches Job-1 with Machine-1 of HTCondor's tests.txt", () => {
    const r = matchAds(job1, machine1);
    expect(r.match).toBe(true);
    expect(valueToString(r.jobRequirements)).toBe("true");
    expect(valueToString(r.machineRequirements)).toBe("true");
  });

  it("does not match Job-1 with Machine-2 (memory too small, and other.mytype is undefined)", () => {
    const r = matchAds(job1, machine2);
    expect(r.match).toBe(false);
    expect(valueToString(r.jobRequirements)).toBe("false");
    expect(valueToString(r.machineRequirements)).toBe("undefined");
  });

  it("needs both Requirements true or a non-zero number (IsAMatch): undefined, error, 0, a string or a missing Requirements is no match", () => {
    const machine = parseClassAd("[ Memory = 4096; Requirements = true ]");
    for (const req of ["1", "2.5", "-1"]) expect(matchAds(parseClassAd(`[ Requirements = ${req} ]`), machine).match).toBe(true);
    for (const req of ["undefined", "error", "0", "0.0", "TARGET.Nope > 3", '"true"']) {
      expect(matchAds(parseClassAd(`[ Requirements = ${req} ]`), machine).match).toBe(false);
    }
    expect(matchAds(parseClassAd("[ Rank = 1 ]"), machine).match).toBe(false);
    expect(matchAds(parseClassAd("[ Requirements = TARGET.Memory > 1000 ]"), machine).match).toBe(true);
  });

  it("resolves bare names in MY first, then in TARGET", () => {
    const job = parseClassAd("[ Memory = 100; Requirements = Memory < 200 && Cpus >= 8 ]");
    const machine = parseClassAd("[ Memory = 4096; Cpus = 8; Requirements = Memory > 1000 ]");
    const r = matchAds(job, machine);
    expect(r.match).toBe(true);
  });

  it("ranks with a number, else 0.0", () => {
    const job = parseClassAd("[ Requirements = true; Rank = TARGET.Memory / 1024 ]");
    const machine = parseClassAd('[ Memory = 4096; Requirements = true; Rank = "high" ]');
    const r = matchAds(job, machine);
    expect(r.jobRank).toBe(4);
    expect(r.machineRank).toBe(0);
    expect(matchAds(parseClassAd("[ Requirements = true; Rank = 2.5 ]"), machine).jobRank).toBe(2.5);
  });

  it("sees changes to an ad after a compiled expression has cached a lookup", () => {
    const job = parseClassAd("[ Requirements = TARGET.Memory >= 2048 ]");
    const machine = parseClassAd("[ Memory = 4096; Requirements = true ]");
    expect(matchAds(job, machine).match).toBe(true);
    machine.set("Memory", intValue(1024));
    expect(matchAds(job, machine).match).toBe(false);
    machine.set("Memory", "1024 * 3");
    expect(matchAds(job, machine).match).toBe(true);
    machine.delete("memory");
    expect(valueToString(matchAds(job, machine).jobRequirements)).toBe("undefined");
  });
});

describe("the ClassAd API", () => {
  it("keeps names case-insensitive and evaluates attributes against a target", () => {
    const ad = new ClassAd();
    ad.set("Owner", stringValue("alice")).set("Rank", "TARGET.Mips * 2");
    expect(ad.names()).toEqual(["Owner", "Rank"]);
    expect(ad.get("OWNER")).toBeDefined();
    expect(valueToString(ad.evaluateAttr("rank", parseClassAd("[ Mips = 21 ]")))).toBe("42");
    expect(valueToString(ad.evaluateAttr("missing"))).toBe("undefined");
    expect(ad.toString()).toBe('[ Rank = TARGET.Mips * 2; Owner = "alice" ]');
  });

  it("compiles once and evaluates many times with different ads", () => {
    const c = compile('TARGET.OpSys == "LINUX" && TARGET.Memory >= MY.RequestMemory');
    const job = parseClassAd("[ RequestMemory = 2048 ]");
    const results = [1024, 2048, 4096].map((m) => valueToString(c.evaluate(job, parseClassAd(`[ OpSys = "linux"; Memory = ${m} ]`))));
    expect(results).toEqual(["false", "true", "true"]);
    expect(valueToString(c.evaluate())).toBe("undefined");
  });

  it("warns about unknown functions at parse time and evaluates them to error", () => {
    const { expr, warnings } = parseExprWithWarnings("1 + frobnicate(2)");
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toMatch(/frobnicate/);
    expect(warnings[0].column).toBe(5);
    expect(parseWarnings(expr)).toHaveLength(1);
    expect(valueToString(evaluate(expr))).toBe("error");
    expect(parseWarnings(parseExpr("size({})"))).toHaveLength(0);
  });

  it("accepts the bracket-less ad form, one attribute per line", () => {
    const ad = parseClassAd('Memory = 4096\nCpus = 8\nName = "slot1"');
    expect(ad.names()).toEqual(["Memory", "Cpus", "Name"]);
  });

  it("lists MY and TARGET references, following MY attributes to their own references", () => {
    const job = parseClassAd("[ RequestMemory = 2048; Need = TARGET.Disk > 10; Requirements = TARGET.Memory >= RequestMemory && Need && Cpus > 1 && MY.Owner =!= other.BadUser ]");
    const refs = referencedAttributes(job.get("Requirements")!, job);
    expect(refs.target).toEqual(["baduser", "cpus", "disk", "memory"]);
    expect(refs.my).toEqual(["need", "owner", "requestmemory"]);
    expect(referencedAttributes(parseExpr("Memory > 1 && regexp(\"x\", Name)")).target).toEqual(["memory", "name"]);
  });

  it("builds the same signature for ads that agree on the given attributes, whatever their order and case", () => {
    const a = parseClassAd('[ Memory = 4096; Site = "CERN"; Name = "slot1" ]');
    const b = parseClassAd('[ name = "slot2"; SITE = "CERN"; memory = 4096 ]');
    expect(signature(a, ["memory", "Site"])).toBe(signature(b, ["SITE", "Memory"]));
    expect(signature(a, ["Name"])).not.toBe(signature(b, ["Name"]));
    expect(signature(a, ["Cpus"])).not.toBe(signature(parseClassAd("[ Cpus = undefined ]"), ["Cpus"]));
  });
});
describe("closures shared by ads with the same expressions", () => {
  it("keep each ad's own values, spellings and signed zeros", () => {
    const a = parseClassAd("[ Memory = 1; Y = Memory + 1; X = unparse(Y); Z = string(-0.0) ]");
    const b = parseClassAd("[ memory = 5; Y = memory + 1; X = unparse(Y); Z = string(0.0) ]");
    const c = parseClassAd("[ Memory = 7; Y = Memory + 1; X = unparse(Y); Z = string(-0.0) ]");
    expect([a, b, c].map((ad) => valueToString(ad.evaluateAttr("Y")))).toEqual(["2", "6", "8"]);
    expect([a, b, c].map((ad) => valueToString(ad.evaluateAttr("X")))).toEqual(['"Memory + 1"', '"memory + 1"', '"Memory + 1"']);
    expect([a, b, c].map((ad) => valueToString(ad.evaluateAttr("Z")))).toEqual(['"-0.0"', '"0.0"', '"-0.0"']);
  });
});
