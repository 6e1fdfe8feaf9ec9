// The intake seals each job spec it queues; the matchmaker signs an envelope only for a spec whose
// seal verifies, so rewriting a queued spec in Redis runs nothing. The seal covers what runs and as
// whom. It leaves out what brokerage and retries legitimately change after the intake (site,
// attempt, maxAttempts, priority, and memoryMb, which the increase_memory retry rule raises after an
// OOM kill): moving a job is still subject to the site's authorization at match time and on the
// pilot, the attempt is what the job's state owner fences on, and memory only decides which
// machines match and where the pilot kills the payload, not what runs or as whom.
import type { JobSpec } from "../schemas/index.ts";
import type { SealVerifier, ServiceSealer } from "./service-seal.ts";

export const JOB_SPEC_SEAL_PURPOSE = "job-spec";
export const INTAKE_ROLE = "intake";

/** The sealed fields in a fixed order, so the text does not depend on key order after a store round trip. */
export function jobSpecSealText(s: JobSpec): string {
  const env = Object.entries(s.environment).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const files = s.inputFiles.map((f) => [f.lfn, f.dataset, f.size, f.adler32, f.md5]);
  return JSON.stringify([
    JOB_SPEC_SEAL_PURPOSE,
    s.jobId,
    s.taskId,
    s.taskName,
    s.kind,
    s.vo,
    s.group,
    s.userDn,
    s.userCaDn ?? null,
    s.userRoles ?? null,
    s.executable,
    s.arguments,
    env,
    s.requirements,
    s.rank,
    s.cores,
    s.walltimeSec,
    files,
    s.outputDataset,
  ]);
}

export function sealJobSpec(sealer: ServiceSealer, spec: JobSpec): JobSpec {
  return { ...spec, seal: sealer.seal(jobSpecSealText(spec)) };
}

export function verifyJobSpecSeal(verifier: SealVerifier, spec: JobSpec): boolean {
  return verifier.verify(jobSpecSealText(spec), spec.seal) || verifier.verify(sealTextWithMemory(spec), spec.seal);
}

/**
 * The text specs were sealed over before memory was left out: a job queued by an older intake still
 * verifies while its memory is the one it was sealed with (an OOM retry of it is refused, 1721).
 */
function sealTextWithMemory(s: JobSpec): string {
  const fields = JSON.parse(jobSpecSealText(s)) as unknown[];
  fields.splice(fields.length - 3, 0, s.memoryMb);
  return JSON.stringify(fields);
}
