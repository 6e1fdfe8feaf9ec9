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

/**
 * The fields a task's jobs usually share, with the sealed text they give (between the job id and
 * the input files, and after the files). A claimed spec shares its task template's values by
 * reference, frozen (jobs/spec-join.ts), so the matchmaker finds them the same with one comparison
 * each and writes only the job's id and files anew.
 */
interface SharedSealText {
  readonly s: Pick<JobSpec, "taskId" | "taskName" | "kind" | "vo" | "group" | "userDn" | "userCaDn" | "userRoles" | "executable" | "arguments" | "environment" | "requirements" | "rank" | "cores" | "walltimeSec" | "outputDataset">;
  readonly middle: string;
  readonly tail: string;
}

/** The last shared part per task (a matchmaker claims from a few tasks at a time; cleared when full). */
const sharedTexts = new Map<string, SharedSealText>();
const SHARED_TEXTS_MAX = 1000;

function sameShared(a: SharedSealText["s"], b: JobSpec): boolean {
  return (
    a.taskId === b.taskId &&
    a.taskName === b.taskName &&
    a.kind === b.kind &&
    a.vo === b.vo &&
    a.group === b.group &&
    a.userDn === b.userDn &&
    a.userCaDn === b.userCaDn &&
    a.userRoles === b.userRoles &&
    a.executable === b.executable &&
    a.arguments === b.arguments &&
    a.environment === b.environment &&
    a.requirements === b.requirements &&
    a.rank === b.rank &&
    a.cores === b.cores &&
    a.walltimeSec === b.walltimeSec &&
    a.outputDataset === b.outputDataset
  );
}

function sharedText(s: JobSpec): SharedSealText {
  // Only objects that cannot change are known by their identity (a claim's template values are
  // frozen): an array changed in place would otherwise keep an earlier text.
  const cacheable = Object.isFrozen(s.arguments) && Object.isFrozen(s.environment) && (s.userRoles === undefined || Object.isFrozen(s.userRoles));
  let t = cacheable ? sharedTexts.get(s.taskId) : undefined;
  if (t !== undefined && sameShared(t.s, s)) return t;
  const env = Object.entries(s.environment).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // Array texts cut open, so an absent field is `null` as inside the whole array.
  const middle = JSON.stringify([s.taskId, s.taskName, s.kind, s.vo, s.group, s.userDn, s.userCaDn ?? null, s.userRoles ?? null, s.executable, s.arguments, env, s.requirements, s.rank, s.cores, s.walltimeSec]).slice(1, -1);
  const tail = JSON.stringify([s.outputDataset]).slice(1, -1);
  const shared = { taskId: s.taskId, taskName: s.taskName, kind: s.kind, vo: s.vo, group: s.group, userDn: s.userDn, userCaDn: s.userCaDn, userRoles: s.userRoles, executable: s.executable, arguments: s.arguments, environment: s.environment, requirements: s.requirements, rank: s.rank, cores: s.cores, walltimeSec: s.walltimeSec, outputDataset: s.outputDataset };
  t = { s: shared, middle, tail };
  if (!cacheable) return t;
  if (sharedTexts.size >= SHARED_TEXTS_MAX) sharedTexts.clear();
  sharedTexts.set(s.taskId, t);
  return t;
}

/**
 * The sealed fields in a fixed order, so the text does not depend on key order after a store round
 * trip: the JSON array [purpose, jobId, taskId, taskName, kind, vo, group, userDn, userCaDn,
 * userRoles, executable, arguments, environment (entries sorted by name), requirements, rank, cores,
 * walltimeSec, input files (each [lfn, dataset, size, adler32, md5]), outputDataset].
 */
export function jobSpecSealText(s: JobSpec): string {
  const shared = sharedText(s);
  let files = "[";
  for (let i = 0; i < s.inputFiles.length; i++) {
    const f = s.inputFiles[i];
    files += `${i > 0 ? "," : ""}${JSON.stringify([f.lfn, f.dataset, f.size, f.adler32, f.md5])}`;
  }
  return `["${JOB_SPEC_SEAL_PURPOSE}",${JSON.stringify(s.jobId)},${shared.middle},${files}],${shared.tail}]`;
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
