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
});
