// Data-local brokerage, pure: splits a task batch into jobs over its input files and sends each job
// to an online site that holds every one of its inputs, spreading jobs in proportion to capacity.
// No Redis, no NATS, no fs: the intake reads the catalog and the sites and passes them in, so the
// decision can be tested and reasoned about on its own. Deterministic: same input, same plan.
import { ERR, WmsError, type JobSpec, type TaskBatch } from "../schemas/index.ts";
import { ClassAdParseError, parseExpr } from "./classad/index.ts";
import type { NewJob } from "../jobs/index.ts";
import type { DatasetFile } from "./replica-catalog.ts";

/** A site as brokerage sees it: where it is open, how big it is and how busy it already is. */
export interface SiteLoad {
  readonly name: string;
  readonly online: boolean;
  /** Job slots; jobs are spread so that load/capacity stays level. */
  readonly capacity: number;
  /** Jobs already queued or running there (other tasks), so one task does not pile onto a busy site. */
  readonly load: number;
}

/** The site of a job no site could take; the job record says failed with INTAKE_NO_REPLICA. */
export const NO_SITE = "none";

export function jobIdFor(taskId: string, index: number): string {
  return `${taskId}.${String(index).padStart(6, "0")}`;
}

/**
 * Requirements and Rank must parse before anything is queued: a job whose ClassAd a matchmaker
 * cannot read would wait forever. An absent expression is stored empty ("any machine", rank 0).
 */
export function checkClassAds(template: TaskBatch["jobTemplate"]): void {
  for (const [name, text] of [
    ["Requirements", template.requirements],
    ["Rank", template.rank],
  ] as const) {
    if (text === undefined || text.trim() === "") continue;
    try {
      parseExpr(text);
    } catch (e) {
      if (e instanceof ClassAdParseError) throw new WmsError(ERR.INTAKE_BAD_CLASSAD, `${name} at line ${e.line}, column ${e.column}: ${e.message}`);
      throw e;
    }
  }
}

export interface FileGroup {
  readonly dataset: string;
  readonly files: readonly DatasetFile[];
}

/**
 * Groups of `filesPerJob` files, dataset by dataset in the batch's order and each dataset's files in
 * lfn order; a job never mixes datasets (two datasets often live at different sites, and a mixed
 * job could then run nowhere). Stops at `maxJobs`.
 */
export function splitIntoJobs(batch: TaskBatch, datasets: ReadonlyMap<string, readonly DatasetFile[]>): FileGroup[] {
  const groups: FileGroup[] = [];
  const max = batch.maxJobs ?? Infinity;
  for (const name of batch.inputDatasets) {
    const files = datasets.get(name);
    if (files === undefined) throw new WmsError(ERR.INTAKE_UNKNOWN_DATASET, `${name}: register it first (wms replica add / wms replica load)`);
    for (let i = 0; i < files.length && groups.length < max; i += batch.filesPerJob) groups.push({ dataset: name, files: files.slice(i, i + batch.filesPerJob) });
  }
  return groups;
}

/**
 * Chooses sites for jobs one at a time, keeping count of what it has assigned, so a task's jobs
 * spread over the eligible sites by capacity (least (load + assigned) / capacity, ties by name).
 */
export class SitePicker {
  private readonly sites = new Map<string, { site: SiteLoad; assigned: number }>();

  constructor(sites: readonly SiteLoad[]) {
    for (const s of sites) this.sites.set(s.name, { site: s, assigned: 0 });
  }

  /** Jobs assigned to each site so far. */
  assigned(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, s] of this.sites) if (s.assigned > 0) out[name] = s.assigned;
    return out;
  }

  /**
   * The site for a job whose inputs are held at `holders[i]` (one list per file), or a reason why
   * none can take it.
   */
  pick(files: ReadonlyArray<{ readonly lfn: string; readonly sites: readonly string[] }>): { site: string } | { problem: string } {
    let common: string[] | undefined;
    for (const f of files) {
      if (f.sites.length === 0) return { problem: `no site holds input file ${f.lfn}` };
      common = common === undefined ? [...f.sites] : common.filter((s) => f.sites.includes(s));
    }
    if (common === undefined) return { problem: "the job has no input files" };
    if (common.length === 0) return { problem: `no single site holds all ${files.length} input files` };
    let best: { site: SiteLoad; assigned: number } | undefined;
    let bestFill = Infinity;
    const offline: string[] = [];
    for (const name of common) {
      const s = this.sites.get(name);
      if (!s) continue;
      if (!s.site.online) {
        offline.push(name);
        continue;
      }
      const fill = (s.site.load + s.assigned) / s.site.capacity;
      if (fill < bestFill || (fill === bestFill && best !== undefined && name < best.site.name)) {
        best = s;
        bestFill = fill;
      }
    }
    if (!best) {
      const known = offline.length > 0 ? `; held only at offline site(s) ${offline.sort().join(", ")}` : `; held only at site(s) not in the site config: ${common.sort().join(", ")}`;
      return { problem: `no online site holds all ${files.length} input files${known}` };
    }
    best.assigned += 1;
    return { site: best.site.name };
  }
}

export interface BrokerageInput {
  readonly taskId: string;
  readonly batch: TaskBatch;
  /** The submitter's identity DN, recorded on every job, so any job can be traced to who submitted it. */
  readonly userDn: string;
  /** The submitter's issuing CA and signed roles, so sites can authorize the owner at match time. */
  readonly userCaDn?: string;
  readonly userRoles?: readonly string[];
  /** Every input dataset's files with their replicas; a dataset missing here is unknown. */
  readonly datasets: ReadonlyMap<string, readonly DatasetFile[]>;
  readonly sites: readonly SiteLoad[];
}

export interface BrokeragePlan {
  /** In job-id order: `activated` at a site, or `failed` with INTAKE_NO_REPLICA. */
  readonly jobs: NewJob[];
  readonly queued: number;
  readonly unbrokered: number;
  /** Jobs per site. */
  readonly sites: Record<string, number>;
}

/** What must hold before any job of the batch is planned: ClassAds that parse (E1605), each input dataset listed once. */
export function checkBatch(batch: TaskBatch): void {
  checkClassAds(batch.jobTemplate);
  if (new Set(batch.inputDatasets).size !== batch.inputDatasets.length) throw new WmsError(ERR.BAD_INPUT, "an input dataset is listed twice; list each once");
}

/** Splits and brokers a whole batch. Throws (nothing to record) on a bad ClassAd or an unknown dataset. */
export function planTask(input: BrokerageInput): BrokeragePlan {
  const { batch } = input;
  checkBatch(batch);
  const groups = splitIntoJobs(batch, input.datasets);
  if (groups.length === 0) throw new WmsError(ERR.BAD_INPUT, `the input datasets ${batch.inputDatasets.join(", ")} hold no files; nothing to run`);
  return planGroups(input, groups, 0);
}

/**
 * Brokers groups of files already chosen (`splitIntoJobs`, or an open task's release of new files:
 * input-release.ts), numbering their jobs from `firstIndex`. Checks nothing about the batch.
 */
export function planGroups(input: BrokerageInput, groups: readonly FileGroup[], firstIndex: number): BrokeragePlan {
  const picker = new SitePicker(input.sites);
  const jobs: NewJob[] = [];
  let unbrokered = 0;
  groups.forEach((g, i) => {
    const choice = picker.pick(g.files);
    const site = "site" in choice ? choice.site : NO_SITE;
    const spec = jobSpec(input, firstIndex + i, site, g);
    if ("site" in choice) jobs.push({ spec, state: "activated" });
    else {
      unbrokered += 1;
      jobs.push({ spec, state: "failed", errorCode: ERR.INTAKE_NO_REPLICA, errorMessage: choice.problem });
    }
  });
  return { jobs, queued: jobs.length - unbrokered, unbrokered, sites: picker.assigned() };
}

/** The spec every job of the task shares, with no files and no site: an open task's template is made from it. */
export function taskSpecPrototype(input: BrokerageInput): JobSpec {
  return jobSpec(input, 0, NO_SITE, { dataset: "", files: [] });
}

function jobSpec(input: BrokerageInput, index: number, site: string, group: FileGroup): JobSpec {
  const { batch } = input;
  const t = batch.jobTemplate;
  return {
    schemaVersion: 1,
    jobId: jobIdFor(input.taskId, index),
    taskId: input.taskId,
    taskName: batch.taskName,
    kind: batch.kind,
    vo: batch.vo,
    group: batch.group,
    userDn: input.userDn,
    ...(input.userCaDn !== undefined ? { userCaDn: input.userCaDn } : {}),
    ...(input.userRoles !== undefined ? { userRoles: [...input.userRoles] } : {}),
    priority: batch.priority,
    site,
    executable: t.executable,
    arguments: t.arguments,
    environment: t.environment,
    requirements: t.requirements ?? "",
    rank: t.rank ?? "",
    cores: t.cores,
    memoryMb: t.memoryMb,
    walltimeSec: t.walltimeSec,
    inputFiles: group.files.map((f) => ({ lfn: f.lfn, dataset: group.dataset, size: f.size, adler32: f.adler32, md5: f.md5 })),
    outputDataset: batch.outputDataset,
    attempt: 1,
    maxAttempts: batch.maxAttempts,
  };
}

/**
 * Re-brokers a failed job for a retry: the same inputs, the site chosen afresh from today's
 * replicas and sites, attempt + 1. `maxAttempts` is raised if needed so the retried attempt is
 * within it (the job-state agent's policy counts against it).
 */
export function rebrokerJob(spec: JobSpec, attempt: number, fileSites: ReadonlyMap<string, readonly string[]>, picker: SitePicker): { spec: JobSpec } | { problem: string } {
  const choice = picker.pick(spec.inputFiles.map((f) => ({ lfn: f.lfn, sites: fileSites.get(`${f.dataset}\n${f.lfn}`) ?? [] })));
  if (!("site" in choice)) return choice;
  const next = attempt + 1;
  return { spec: { ...spec, site: choice.site, attempt: next, maxAttempts: Math.max(spec.maxAttempts, next) } };
}
