// Pure: which of an open task's input files form jobs now, and when the task may close. An open
// task reads another task's output dataset while that task still runs (JEDI's incremental job
// generation): its jobs are planned as the producer's outputs are registered. No Redis, no NATS: the
// planner (open-task-planner.ts) reads the catalog, the producers and the consumed files and passes
// them in. Deterministic: same input, same release.
import type { FileGroup } from "./brokerage.ts";
import type { DatasetFile } from "./replica-catalog.ts";

/** One input dataset written by another task. */
export interface ReleasedInput {
  readonly dataset: string;
  /** Every file of the dataset registered so far (any order), with the sites holding it. */
  readonly files: readonly DatasetFile[];
  /**
   * Its producing task has ended (done, partial, broken or aborted), read before `files`: a file
   * registered after that read is then in `files` too, since outputs are registered before their
   * job moves, and the task rolls up only when its last job moves.
   */
  readonly ended: boolean;
}

export interface ReleaseState {
  readonly filesPerJob: number;
  /** Jobs the task may still get (its `maxJobs` minus the jobs it has; Infinity without a limit). */
  readonly jobsLeft: number;
  readonly inputs: readonly ReleasedInput[];
  /** Files already in one of the task's jobs (`fileId`). */
  readonly consumed: ReadonlySet<string>;
}

export interface ReleaseDecision {
  /** Jobs to plan now, in order: dataset by dataset, each by its first lfn. */
  readonly groups: FileGroup[];
  /** The task takes no more jobs after these: every producer ended and every file is in a job, or the job limit is reached. */
  readonly close: boolean;
  /** Registered files left out of `groups`: waiting for enough files to fill a job (or past the job limit). */
  readonly pending: number;
}

/** The consumed-set member of a file: datasets and lfns are free text, a newline is in neither. */
export function fileId(dataset: string, lfn: string): string {
  return `${dataset}\n${lfn}`;
}

/**
 * A job takes files held at the same sites: outputs appear site by site (wherever their producer's
 * job ran), and a job whose files no single site holds could run nowhere. Files with no replica
 * wait while their producer runs (a replica may be registered); at its end they form jobs that the
 * brokerage fails with INTAKE_NO_REPLICA, so no file is silently skipped.
 *
 * Only full groups of `filesPerJob` are released while a producer runs; its last, partial group of
 * each set of sites only once it ended, so a job never gets fewer files than asked while more may come.
 */
export function releaseFiles(s: ReleaseState): ReleaseDecision {
  const groups: FileGroup[] = [];
  let unplaced = 0;
  for (const input of s.inputs) {
    const buckets = new Map<string, DatasetFile[]>();
    for (const f of input.files) {
      if (s.consumed.has(fileId(input.dataset, f.lfn))) continue;
      const key = [...f.sites].sort().join(",");
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = []));
      b.push(f);
    }
    const mine: FileGroup[] = [];
    for (const [key, files] of buckets) {
      if (key === "" && !input.ended) {
        unplaced += files.length;
        continue;
      }
      files.sort((a, b) => (a.lfn < b.lfn ? -1 : a.lfn > b.lfn ? 1 : 0));
      let i = 0;
      for (; i + s.filesPerJob <= files.length; i += s.filesPerJob) mine.push({ dataset: input.dataset, files: files.slice(i, i + s.filesPerJob) });
      if (i < files.length && input.ended) {
        mine.push({ dataset: input.dataset, files: files.slice(i) });
        i = files.length;
      }
      unplaced += files.length - i;
    }
    mine.sort((a, b) => (a.files[0].lfn < b.files[0].lfn ? -1 : a.files[0].lfn > b.files[0].lfn ? 1 : 0));
    groups.push(...mine);
  }
  const limit = Math.max(0, s.jobsLeft);
  const kept = groups.slice(0, limit);
  for (const g of groups.slice(limit)) unplaced += g.files.length;
  const allEnded = s.inputs.every((i) => i.ended);
  const close = groups.length >= limit || (allEnded && unplaced === 0);
  return { groups: kept, close, pending: unplaced };
}
