// What the intake's seal on a queued job spec covers: what runs and as whom, not what brokerage and
// retries change afterwards (site, attempt, priority, memory).
import { describe, expect, it } from "vitest";
import { fixedSealKeys, jobSpecSealText, JOB_SPEC_SEAL_PURPOSE, newSealKey, sealJobSpec, SealVerifier, ServiceSealer, verifyJobSpecSeal } from "../../security/index.ts";
import { SCHEMA_VERSION, type JobSpec } from "../../schemas/index.ts";

const keys = fixedSealKeys(newSealKey());
const sealer = new ServiceSealer(keys, JOB_SPEC_SEAL_PURPOSE);
const verifier = new SealVerifier(keys, JOB_SPEC_SEAL_PURPOSE);

const spec: JobSpec = {
  schemaVersion: SCHEMA_VERSION,
  jobId: "t1.0",
  taskId: "t1",
  taskName: "seal.task",
  kind: "analysis",
  vo: "atlas",
  group: "",
  userDn: "/DC=org/CN=Jane Doe",
  priority: 0,
  site: "SITE_A",
  executable: "/bin/echo",
  arguments: ["hello"],
  environment: { A: "1" },
  requirements: "true",
  rank: "0",
  cores: 1,
  memoryMb: 64,
  walltimeSec: 60,
  inputFiles: [],
  outputDataset: "user.seal.out",
  attempt: 1,
  maxAttempts: 2,
};

describe("job spec seal", () => {
  it("still verifies after a retry moved the job, raised its memory (increase_memory) and its attempt", () => {
    const sealed = sealJobSpec(sealer, spec);
    expect(verifyJobSpecSeal(verifier, { ...sealed, site: "SITE_B", attempt: 2, maxAttempts: 3, memoryMb: 96, priority: 5 })).toBe(true);
  });

  it("refuses a spec whose command, arguments, environment, owner or walltime were rewritten", () => {
    const sealed = sealJobSpec(sealer, spec);
    for (const changed of [{ executable: "/bin/sh" }, { arguments: ["-c", "id"] }, { environment: { A: "2" } }, { userDn: "/DC=org/CN=Mallory" }, { walltimeSec: 86_400 }]) {
      expect(verifyJobSpecSeal(verifier, { ...sealed, ...changed })).toBe(false);
    }
  });

  it("verifies a spec sealed over the older text that included memory, while its memory is unchanged", () => {
    const fields = JSON.parse(jobSpecSealText(spec)) as unknown[];
    fields.splice(fields.length - 3, 0, spec.memoryMb);
    const older = { ...spec, seal: sealer.seal(JSON.stringify(fields)) };
    expect(verifyJobSpecSeal(verifier, older)).toBe(true);
    expect(verifyJobSpecSeal(verifier, { ...older, executable: "/bin/sh" })).toBe(false);
    expect(verifyJobSpecSeal(verifier, { ...older, memoryMb: 96 })).toBe(false);
  });

  // The text written out as documented, field by field: the per-task shared part is kept between
  // calls (job-spec-seal.ts), so a later call must never reuse another spec's text.
  const documented = (s: JobSpec): string =>
    JSON.stringify([
      JOB_SPEC_SEAL_PURPOSE, s.jobId, s.taskId, s.taskName, s.kind, s.vo, s.group, s.userDn, s.userCaDn ?? null, s.userRoles ?? null, s.executable, s.arguments,
      Object.entries(s.environment).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), s.requirements, s.rank, s.cores, s.walltimeSec,
      s.inputFiles.map((f) => [f.lfn, f.dataset, f.size, f.adler32, f.md5]), s.outputDataset,
    ]);
  const file = (i: number): JobSpec["inputFiles"][number] => ({ lfn: `f${i}`, dataset: "ds", size: i, adler32: "0a1b2c3d", md5: "0123456789abcdef0123456789abcdef" });

  it("seals the documented text whatever the fields present, the files and the environment's order", () => {
    const variants: JobSpec[] = [
      spec,
      { ...spec, jobId: "t1.1", inputFiles: [file(1), file(2)], environment: { Z: "1", A: "2", "q\"": "x" } },
      { ...spec, jobId: "t1.2", userCaDn: "/DC=org/CN=CA", userRoles: ["production"], arguments: [] },
    ];
    for (const v of variants) expect(jobSpecSealText(v)).toBe(documented(v));
  });

  it("gives a claimed spec of the same task whose shared field differs its own text, frozen values or not", () => {
    // Frozen template values, as claims share them (jobs/spec-join.ts): the shared part is reused.
    const shared: JobSpec = { ...spec, arguments: Object.freeze(["a"]) as string[], environment: Object.freeze({ A: "1" }) };
    expect(jobSpecSealText(shared)).toBe(documented(shared));
    expect(jobSpecSealText({ ...shared, jobId: "t1.7", inputFiles: [file(7)] })).toBe(documented({ ...shared, jobId: "t1.7", inputFiles: [file(7)] }));
    for (const changed of [{ executable: "/bin/sh" }, { arguments: Object.freeze(["b"]) as string[] }, { environment: Object.freeze({ A: "2" }) }, { userDn: "/DC=org/CN=Mallory" }, { walltimeSec: 61 }, { outputDataset: "other" }]) {
      const v = { ...shared, ...changed } as JobSpec;
      expect(jobSpecSealText(v)).toBe(documented(v));
    }
    // An array changed in place is not frozen, so never known by its identity.
    const args = ["a"];
    const open = { ...spec, arguments: args };
    expect(jobSpecSealText(open)).toBe(documented(open));
    args.push("-c");
    expect(jobSpecSealText(open)).toBe(documented(open));
  });
});
