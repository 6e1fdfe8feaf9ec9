import { compile, interpretExpr, matchAds, parseClassAd, parseExpr } from "../../matchmaker/classad/index.ts";
import { opsPerSec, type BenchSuite } from "./suite.ts";

const REQUIREMENTS = 'TARGET.Memory >= 2048 && TARGET.Cpus >= 4 && member(TARGET.Site, {"CERN", "FNAL", "BNL"}) && TARGET.OpSys == "LINUX"';

const SITES = ["CERN", "FNAL", "BNL", "RAL", "IN2P3"];

/** 1,000 distinct slot ads in the startd's and glideinWMS's names, with their own Requirements and Rank. */
function pool(parse: typeof parseClassAd): ReturnType<typeof parseClassAd>[] {
  return Array.from({ length: 1000 }, (_, i) =>
    parse(
      `[ Name = "slot1@wn${i}.example.org"; Cpus = ${1 << i % 5}; TotalCpus = 32; Memory = ${1024 * (1 + (i % 32))}; Disk = ${1_000_000 + i}; ` +
        `OpSys = "LINUX"; OpSysAndVer = "AlmaLinux9"; Arch = "X86_64"; HasSingularity = ${i % 3 !== 0}; GLIDEIN_Site = "${SITES[i % SITES.length]}"; ` +
        `Requirements = TARGET.RequestMemory <= Memory && TARGET.RequestCpus <= Cpus && TARGET.Owner =!= "banned"; Rank = TARGET.JobPrio * 10 ]`,
    ),
  );
}

/**
 * A typical job Requirements (memory, cpus, site membership, OS string) evaluated against a
 * machine ad: compiled closures versus the plain tree-walker in the same run, and a full
 * symmetric match (both Requirements and both Ranks) of a typical job/machine pair, and one job
 * against a pool of 1,000 distinct machine ads (the negotiator's inner loop: IsAMatch and both
 * Ranks per pair), compiled against the tree-walker in the same run.
 */
export const classadSuite: BenchSuite = {
  key: "classad",
  async run() {
    const job = parseClassAd(`[ Owner = "alice"; RequestMemory = 2048; RequestCpus = 4; Requirements = ${REQUIREMENTS}; Rank = TARGET.Memory / 1024 + TARGET.Cpus ]`);
    const machine = parseClassAd(
      '[ Name = "slot1@wn042.cern.ch"; Memory = 16384; Cpus = 8; Site = "cern"; OpSys = "linux"; Arch = "X86_64"; ' +
        'Requirements = TARGET.RequestMemory <= Memory && TARGET.RequestCpus <= Cpus && TARGET.Owner =!= "banned"; Rank = 0 ]',
    );
    const expr = parseExpr(REQUIREMENTS);
    const compiled = compile(expr);
    if (compiled.evaluate(job, machine).kind !== "boolean" || interpretExpr(expr, job, machine).kind !== "boolean") throw new Error("benchmark expression does not evaluate to a boolean");
    if (!matchAds(job, machine).match) throw new Error("benchmark ads do not match");
    const compiledEvalsPerSec = opsPerSec(() => compiled.evaluate(job, machine), 1500, 10_000);
    const interpretedEvalsPerSec = opsPerSec(() => interpretExpr(expr, job, machine), 1500, 10_000);
    const matchesPerSec = opsPerSec(() => matchAds(job, machine), 1000, 5_000);
    const poolJob = parseClassAd(
      '[ Owner = "alice"; RequestMemory = 4096; RequestCpus = 2; JobPrio = 5; ' +
        'Requirements = TARGET.Memory >= RequestMemory && TARGET.Cpus >= RequestCpus && TARGET.HasSingularity && member(TARGET.GLIDEIN_Site, {"CERN", "FNAL", "BNL"}) && TARGET.OpSysAndVer == "AlmaLinux9"; ' +
        "Rank = TARGET.Memory / 1024 + TARGET.Cpus ]",
    );
    const machines = pool(parseClassAd);
    let matched = 0;
    for (const m of machines) if (matchAds(poolJob, m).match) matched++;
    if (matched === 0 || matched === machines.length) throw new Error("benchmark pool should match some machines, not all");
    const walk = (how: "compiled" | "tree-walker") => () => {
      for (const m of machines) matchAds(poolJob, m, null, how);
    };
    const matchPairsPerSec = opsPerSec(walk("compiled"), 1500, 5) * machines.length;
    const treeWalkerMatchPairsPerSec = opsPerSec(walk("tree-walker"), 1500, 5) * machines.length;
    return {
      compiledEvalsPerSec: Math.round(compiledEvalsPerSec),
      interpretedEvalsPerSec: Math.round(interpretedEvalsPerSec),
      compiledOverInterpretedRatio: Math.round((compiledEvalsPerSec / interpretedEvalsPerSec) * 100) / 100,
      matchesPerSec: Math.round(matchesPerSec),
      matchPairsPerSec: Math.round(matchPairsPerSec),
      treeWalkerMatchPairsPerSec: Math.round(treeWalkerMatchPairsPerSec),
      matchPairsOverTreeWalkerRatio: Math.round((matchPairsPerSec / treeWalkerMatchPairsPerSec) * 100) / 100,
    };
  },
};
