import { compile, interpretExpr, matchAds, parseClassAd, parseExpr } from "../../matchmaker/classad/index.ts";
import { opsPerSec, type BenchSuite } from "./suite.ts";

const REQUIREMENTS = 'TARGET.Memory >= 2048 && TARGET.Cpus >= 4 && member(TARGET.Site, {"CERN", "FNAL", "BNL"}) && TARGET.OpSys == "LINUX"';

/**
 * A typical job Requirements (memory, cpus, site membership, OS string) evaluated against a
 * machine ad: compiled closures versus the plain tree-walker in the same run, and a full
 * symmetric match (both Requirements and both Ranks) of a typical job/machine pair.
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
    return {
      compiledEvalsPerSec: Math.round(compiledEvalsPerSec),
      interpretedEvalsPerSec: Math.round(interpretedEvalsPerSec),
      compiledOverInterpretedRatio: Math.round((compiledEvalsPerSec / interpretedEvalsPerSec) * 100) / 100,
      matchesPerSec: Math.round(matchesPerSec),
    };
  },
};
